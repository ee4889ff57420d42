"""Drift statistics on binned counts: the reference's counts against a window's counts.

Every function takes two count vectors over the same bins and returns ``(value, contributions)``;
``contributions`` has one entry per bin and says how much that bin adds to the value (see each
function). They are pure numpy; only the chi² p-value needs scipy (``scipy.special.chdtrc``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["chi2", "js", "ks", "linf", "psi", "wasserstein"]

# Proportions of 0 are replaced by this in PSI, as Evidently does, so an empty bin gives a finite score.
PSI_EPSILON = 1e-4


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total <= 0:
        raise ValueError("cannot compute drift on an empty distribution (no values in any bin)")
    return counts.astype(np.float64) / float(total)


def psi(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """Population stability index ``sum((q - p) * ln(q / p))``; zero proportions become 1e-4.

    Contributions are the per-bin terms (they sum to the value)."""
    p = np.maximum(_proportions(ref), PSI_EPSILON)
    q = np.maximum(_proportions(cur), PSI_EPSILON)
    terms = (q - p) * np.log(q / p)
    return float(terms.sum()), terms


def ks(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """Kolmogorov-Smirnov distance: the largest gap between the two cumulative distributions.

    Contributions are the gaps at each bin's upper edge (the value is their maximum)."""
    gaps = np.abs(np.cumsum(_proportions(ref)) - np.cumsum(_proportions(cur)))
    return float(gaps.max()), gaps


def js(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """Jensen-Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``), in [0, 0.833].

    Contributions are the per-bin terms of the JS divergence (the value is the square root of their sum)."""
    p = _proportions(ref)
    q = _proportions(cur)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log(p / m), 0.0)
        tq = np.where(q > 0, q * np.log(q / m), 0.0)
    terms = 0.5 * (tp + tq)
    return float(np.sqrt(max(terms.sum(), 0.0))), terms


def linf(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """L-infinity distance: the largest absolute change of one bin's (category's) proportion.

    Contributions are the absolute changes per bin (the value is their maximum)."""
    diff = np.abs(_proportions(cur) - _proportions(ref))
    return float(diff.max()), diff


def chi2(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray]:
    """Chi² test of homogeneity of the 2xK table (reference counts, window counts): its p-value.

    Same as ``scipy.stats.chi2_contingency(table, correction=False)`` after dropping categories empty in
    both; a small p-value means drift. Contributions are the per-category terms of the statistic."""
    try:
        from scipy.special import chdtrc
    except ImportError as exc:  # pragma: no cover - scipy is in the otelml[stats] extra
        raise RuntimeError("the chi2 drift method needs scipy: pip install 'otelml[stats]'") from exc
    table = np.vstack([ref, cur]).astype(np.float64)
    keep = table.sum(axis=0) > 0
    terms = np.zeros(table.shape[1])
    if keep.sum() < 2 or (table.sum(axis=1) <= 0).any():
        return 1.0, terms
    t = table[:, keep]
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    cells = (t - expected) ** 2 / expected
    terms[keep] = cells.sum(axis=0)
    dof = t.shape[1] - 1
    return float(chdtrc(dof, terms.sum())), terms


def wasserstein(
    ref: np.ndarray,
    ref_sums: np.ndarray,
    cur: np.ndarray,
    cur_sums: np.ndarray,
    edges: np.ndarray,
    low: float,
    high: float,
    scale: float,
) -> tuple[float, np.ndarray]:
    """Wasserstein-1 distance ``integral |F_ref - F_cur| dx`` between binned distributions, over ``scale``.

    Bins are: below ``edges[0]``, between consecutive edges, above ``edges[-1]``; ``low``/``high`` bound
    every value (the smallest/largest seen). With each bin's count and sum of values, the integral of
    ``F_ref - F_cur`` over a bin is exact (``integral_a^b F = (b - a) F(b) - sum(x - a) / N``), so the
    result is exact wherever the two CDFs do not cross inside a bin; in a bin where they cross the
    CDFs are taken as linear. Contributions are the per-bin integrals / scale (they sum to the value)."""
    bounds = np.concatenate(([min(low, edges[0])], edges, [max(high, edges[-1])]))
    lower, widths = bounds[:-1], np.diff(bounds)

    def per_bin(counts: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = float(counts.sum())
        if total <= 0:
            raise ValueError("cannot compute drift on an empty distribution (no values in any bin)")
        cdf = np.cumsum(counts) / total
        return cdf, widths * cdf - (sums - lower * counts) / total

    cdf_ref, int_ref = per_bin(ref, ref_sums)
    cdf_cur, int_cur = per_bin(cur, cur_sums)
    exact = np.abs(int_ref - int_cur)
    d = np.concatenate(([0.0], cdf_ref - cdf_cur))
    d0, d1 = d[:-1], d[1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(a0 + a1 > 0, widths * (d0**2 + d1**2) / (2.0 * (a0 + a1)), 0.0)
    terms = np.where(d0 * d1 < 0, np.maximum(exact, linear), exact) / scale
    return float(terms.sum()), terms
