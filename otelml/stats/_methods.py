"""Drift statistics on binned counts, for many features at once: rows x bins.

Every function takes the reference's and the windows' counts as 2-D arrays (one row per feature, one
column per bin; rows padded with empty bins add nothing to any method) and returns ``(values,
contributions)``: one value per row and, per row, one entry per bin saying how much that bin adds to
the value (see each function). ``otelml.stats.score``/``evaluate`` call them with one row,
``evaluate_many`` with every feature of a window, so both give the same numbers. Pure numpy; only the
chi² p-value needs scipy (``scipy.special.chdtrc``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["CountMethod", "chi2", "coarse", "js", "ks", "linf", "psi", "wasserstein"]

# Proportions of 0 are replaced by this in PSI, as Evidently does, so an empty bin gives a finite score.
PSI_EPSILON = 1e-4

CountMethod = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("cannot compute drift on an empty distribution (no values in any bin)")
    return counts / total


def psi(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Population stability index ``sum((q - p) * ln(q / p))``; zero proportions become 1e-4.

    Contributions are the per-bin terms (they sum to the value)."""
    p = np.maximum(_proportions(ref), PSI_EPSILON)
    q = np.maximum(_proportions(cur), PSI_EPSILON)
    terms = (q - p) * np.log(q / p)
    return terms.sum(axis=1), terms


def ks(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kolmogorov-Smirnov distance: the largest gap between the two cumulative distributions.

    Contributions are the gaps at each bin's upper edge (the value is their maximum)."""
    gaps = np.abs(np.cumsum(_proportions(ref), axis=1) - np.cumsum(_proportions(cur), axis=1))
    return gaps.max(axis=1), gaps


def js(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jensen-Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``), in [0, 0.833].

    Contributions are the per-bin terms of the JS divergence (the value is the square root of their sum)."""
    p = _proportions(ref)
    q = _proportions(cur)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log(p / m), 0.0)
        tq = np.where(q > 0, q * np.log(q / m), 0.0)
    terms = 0.5 * (tp + tq)
    return np.sqrt(np.maximum(terms.sum(axis=1), 0.0)), terms


def linf(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L-infinity distance: the largest absolute change of one bin's (category's) proportion.

    Contributions are the absolute changes per bin (the value is their maximum)."""
    diff = np.abs(_proportions(cur) - _proportions(ref))
    return diff.max(axis=1), diff


def chi2(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi² test of homogeneity of each row's 2xK table (reference counts, window counts): its p-value.

    Same as ``scipy.stats.chi2_contingency(table, correction=False)`` after dropping categories empty in
    both; 1.0 when fewer than two categories remain or a side is empty; a small p-value means drift.
    Contributions are the per-category terms of the statistic."""
    try:
        from scipy.special import chdtrc
    except ImportError as exc:  # pragma: no cover - scipy is in the otelml[stats] extra
        raise RuntimeError("the chi2 drift method needs scipy: pip install 'otelml[stats]'") from exc
    col = ref + cur
    keep = col > 0
    row_ref = ref.sum(axis=1, keepdims=True)
    row_cur = cur.sum(axis=1, keepdims=True)
    total = row_ref + row_cur
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref = row_ref * col / total
        e_cur = row_cur * col / total
        cells = (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur
    dof = keep.sum(axis=1) - 1
    valid = (dof >= 1) & (row_ref[:, 0] > 0) & (row_cur[:, 0] > 0)
    terms = np.where(valid[:, None] & keep, cells, 0.0)
    values = np.where(valid, chdtrc(np.maximum(dof, 1), terms.sum(axis=1)), 1.0)
    return values, terms


def coarse(
    method: CountMethod, groups: np.ndarray, ref: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``method`` over groups of bins (``groups``: rows x bins of group ids, e.g. a numeric profile's
    deciles for PSI/JS), each group's term shared among its bins in proportion to the window's counts
    in them (to the reference counts in a group the window left empty), so contributions still sum to
    the value."""
    rows = len(ref)
    n_groups = int(groups.max()) + 1
    gid = (groups + np.arange(rows)[:, None] * n_groups).ravel()
    g_ref = np.bincount(gid, weights=ref.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    g_cur = np.bincount(gid, weights=cur.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    values, g_terms = method(g_ref, g_cur)
    weights = np.where(np.take_along_axis(g_cur, groups, axis=1) > 0, cur, ref)
    group_w = np.bincount(gid, weights=weights.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    per_bin_w = np.take_along_axis(group_w, groups, axis=1)
    share = np.divide(weights, per_bin_w, out=np.zeros_like(weights), where=per_bin_w > 0)
    return values, np.take_along_axis(g_terms, groups, axis=1) * share


def wasserstein(
    ref: np.ndarray,
    ref_sums: np.ndarray,
    cur: np.ndarray,
    cur_sums: np.ndarray,
    edges: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Wasserstein-1 distance ``integral |F_ref - F_cur| dx`` between binned distributions, over ``scale``.

    Per row, bins are: below ``edges[0]``, between consecutive edges, above ``edges[-1]``; ``low``/``high``
    bound every value (the smallest/largest seen). With each bin's count and sum of values, the integral
    of ``F_ref - F_cur`` over a bin is exact (``integral_a^b F = (b - a) F(b) - sum(x - a) / N``), so the
    result is exact wherever the two CDFs do not cross inside a bin; in a bin where they cross the
    CDFs are taken as linear. Contributions are the per-bin integrals / scale (they sum to the value)."""
    low = np.minimum(low, edges[:, 0])
    high = np.maximum(high, edges[:, -1])
    bounds = np.concatenate((low[:, None], edges, high[:, None]), axis=1)
    lower, widths = bounds[:, :-1], np.diff(bounds, axis=1)

    def per_bin(counts: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = counts.sum(axis=1, keepdims=True)
        if (total <= 0).any():
            raise ValueError("cannot compute drift on an empty distribution (no values in any bin)")
        cdf = np.cumsum(counts, axis=1) / total
        return cdf, widths * cdf - (sums - lower * counts) / total

    cdf_ref, int_ref = per_bin(ref, ref_sums)
    cdf_cur, int_cur = per_bin(cur, cur_sums)
    exact = np.abs(int_ref - int_cur)
    d = np.concatenate((np.zeros((len(ref), 1)), cdf_ref - cdf_cur), axis=1)
    d0, d1 = d[:, :-1], d[:, 1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(a0 + a1 > 0, widths * (d0**2 + d1**2) / (2.0 * (a0 + a1)), 0.0)
    terms = np.where(d0 * d1 < 0, np.maximum(exact, linear), exact) / scale[:, None]
    return terms.sum(axis=1), terms
