"""Scoring many features of one window at once: the same scores as ``evaluate`` per feature, vectorised.

The sidecar scores ~20 features x 4 methods per closed window; ``evaluate`` runs ~10 small numpy calls
per score, so at that size the cost is call overhead. ``evaluate_many`` stacks the count/sum vectors of
numeric features that share a bin count (and of categorical features, padded with empty bins, which add
nothing to any method) into 2-D arrays and computes each method for all rows with one set of numpy
calls. Values and contributions equal ``evaluate``'s up to floating-point summation order
(tests/stats/test_batch.py compares the two); features it cannot stack fall back to ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otelml.stats._drift import (
    DEFAULT_CONFIG,
    P_VALUE_METHODS,
    DriftConfig,
    DriftScore,
    evaluate,
)
from otelml.stats._methods import PSI_EPSILON
from otelml.stats._profile import CategoricalProfile, NumericProfile, Profile
from otelml.stats._window import CategoricalWindow, NumericWindow, Window

__all__ = ["evaluate_many"]


def evaluate_many(
    profiles: Sequence[Profile],
    windows: Sequence[Window],
    config: DriftConfig = DEFAULT_CONFIG,
    n_tests: Sequence[int] | int = 1,
) -> list[list[DriftScore]]:
    """``[evaluate(profiles[i], windows[i], config, n_tests[i]) for i ...]``, computed in batches."""
    if len(profiles) != len(windows):
        raise ValueError(f"got {len(profiles)} profiles but {len(windows)} windows")
    tests = [n_tests] * len(profiles) if isinstance(n_tests, int) else list(n_tests)
    out: list[list[DriftScore]] = [[] for _ in profiles]
    numeric: dict[int, list[int]] = {}
    categorical: list[int] = []
    for i, (p, w) in enumerate(zip(profiles, windows, strict=True)):
        if w.n < config.min_samples:
            continue
        if int(p.counts.sum()) <= 0 or int(w.counts.sum()) <= 0 or len(p.counts) != len(w.counts):
            out[i] = evaluate(p, w, config, tests[i])  # the per-feature path raises the usual error
        elif isinstance(p, NumericProfile) and isinstance(w, NumericWindow):
            numeric.setdefault(p.n_bins, []).append(i)
        elif isinstance(p, CategoricalProfile) and isinstance(w, CategoricalWindow):
            categorical.append(i)
        else:
            out[i] = evaluate(p, w, config, tests[i])
    for rows in numeric.values():
        _score_rows(rows, profiles, windows, config, tests, out, config.numeric_methods, numeric=True)
    if categorical:
        methods = config.categorical_methods
        _score_rows(categorical, profiles, windows, config, tests, out, methods, numeric=False)
    return out


def _stack(vectors: list[np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(vectors), width), dtype=np.float64)
    for r, v in enumerate(vectors):
        out[r, : len(v)] = v
    return out


def _score_rows(
    rows: list[int],
    profiles: Sequence[Profile],
    windows: Sequence[Window],
    config: DriftConfig,
    tests: list[int],
    out: list[list[DriftScore]],
    methods: tuple[str, ...],
    numeric: bool,
) -> None:
    ps = [profiles[i] for i in rows]
    ws = [windows[i] for i in rows]
    sizes = [len(p.counts) for p in ps]
    width = max(sizes)
    ref = _stack([p.counts for p in ps], width)
    cur = _stack([w.counts for w in ws], width)
    ref_p = ref / ref.sum(axis=1, keepdims=True)
    cur_p = cur / cur.sum(axis=1, keepdims=True)
    computed: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in methods:
        if m == "wasserstein":
            computed[m] = _wasserstein(ps, ws, ref, cur)  # type: ignore[arg-type]
        elif numeric and m in ("psi", "js"):
            computed[m] = _coarse(m, ps, ref, cur)  # type: ignore[arg-type]
        else:
            computed[m] = _FLAT[m](ref, cur, ref_p, cur_p)
    n = np.array([w.n for w in ws], dtype=np.float64)
    excess = cur / n[:, None] - ref / np.maximum(ref.sum(axis=1), 1.0)[:, None]
    not_candidate = ~((excess > 0) & (cur > 0))  # bins where the window holds more than its share
    n_top = np.minimum((~not_candidate).sum(axis=1), 5).tolist()
    thresholds = config.thresholds
    per_method = []
    for m in methods:
        values, terms = computed[m]
        threshold = thresholds[m]
        if m in P_VALUE_METHODS:
            divisors = [max(tests[i], 1) if config.bonferroni else 1 for i in rows]
            effective = np.array([threshold / d if config.bonferroni else threshold for d in divisors])
            drifted = (values < effective).tolist()
        else:
            drifted = (values >= threshold).tolist()
        # candidates first, then by contribution and excess descending; stable, so ties keep bin order
        top = np.lexsort((-excess, -terms, not_candidate), axis=-1)[:, :5].tolist()
        per_method.append((m, threshold, values.tolist(), terms, drifted, top))
    for r, i in enumerate(rows):
        size, count, k = sizes[r], ws[r].n, n_top[r]
        alert_methods = config.alert_methods_for(ps[r])
        out[i] = [
            DriftScore(
                method=m,
                value=values[r],
                threshold=threshold,
                drifted=drifted[r],
                alert=drifted[r] and m in alert_methods,
                n=count,
                contributions=terms[r, :size],
                top_bins=tuple(top[r][:k]),
            )
            for m, threshold, values, terms, drifted, top in per_method
        ]


# -- methods on rows: (ref counts, cur counts, ref proportions, cur proportions) -> (values, terms) ----


def _psi(ref: np.ndarray, cur: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.maximum(p, PSI_EPSILON)
    q = np.maximum(q, PSI_EPSILON)
    terms = (q - p) * np.log(q / p)
    return terms.sum(axis=1), terms


def _ks(ref: np.ndarray, cur: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1))
    return gaps.max(axis=1), gaps


def _js(ref: np.ndarray, cur: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log(p / m), 0.0)
        tq = np.where(q > 0, q * np.log(q / m), 0.0)
    terms = 0.5 * (tp + tq)
    return np.sqrt(np.maximum(terms.sum(axis=1), 0.0)), terms


def _linf(ref: np.ndarray, cur: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = np.abs(q - p)
    return diff.max(axis=1), diff


def _chi2(ref: np.ndarray, cur: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import chdtrc  # type: ignore[import-untyped]

    col = ref + cur
    keep = col > 0
    row_ref = ref.sum(axis=1, keepdims=True)
    row_cur = cur.sum(axis=1, keepdims=True)
    total = row_ref + row_cur
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref = row_ref * col / total
        e_cur = row_cur * col / total
        cells = (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur
    terms = np.where(keep, cells, 0.0)
    dof = keep.sum(axis=1) - 1
    values = np.where(dof >= 1, chdtrc(np.maximum(dof, 1), terms.sum(axis=1)), 1.0)
    return values, np.where((dof >= 1)[:, None], terms, 0.0)


_FLAT = {"psi": _psi, "ks": _ks, "js": _js, "linf": _linf, "chi2": _chi2}


def _coarse(
    method: str, ps: list[NumericProfile], ref: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """PSI or JS over each profile's coarse groups, spread back onto its bins (as ``_drift._raw``)."""
    rows = len(ref)
    groups = np.stack([p.coarse_groups for p in ps])
    n_groups = int(groups.max()) + 1
    gid = (groups + np.arange(rows)[:, None] * n_groups).ravel()
    g_ref = np.bincount(gid, weights=ref.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    g_cur = np.bincount(gid, weights=cur.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    gp = g_ref / g_ref.sum(axis=1, keepdims=True)
    gq = g_cur / g_cur.sum(axis=1, keepdims=True)
    values, g_terms = _FLAT[method](g_ref, g_cur, gp, gq)
    weights = np.where(np.take_along_axis(g_cur, groups, axis=1) > 0, cur, ref)
    group_w = np.bincount(gid, weights=weights.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
    per_bin_w = np.take_along_axis(group_w, groups, axis=1)
    share = np.divide(weights, per_bin_w, out=np.zeros_like(weights), where=per_bin_w > 0)
    return values, np.take_along_axis(g_terms, groups, axis=1) * share


def _wasserstein(
    ps: list[NumericProfile], ws: list[NumericWindow], ref: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    edges = np.stack([p.edges for p in ps])
    low = np.minimum([w.min for w in ws], edges[:, 0])
    high = np.maximum([w.max for w in ws], edges[:, -1])
    bounds = np.concatenate((low[:, None], edges, high[:, None]), axis=1)
    lower, widths = bounds[:, :-1], np.diff(bounds, axis=1)
    ref_sums = np.stack([p.sums for p in ps])
    cur_sums = np.stack([w.sums for w in ws])
    scale = np.array([p.scale for p in ps])

    def per_bin(counts: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = counts.sum(axis=1, keepdims=True)
        cdf = np.cumsum(counts, axis=1) / total
        return cdf, widths * cdf - (sums - lower * counts) / total

    cdf_ref, int_ref = per_bin(ref, ref_sums)
    cdf_cur, int_cur = per_bin(cur, cur_sums)
    exact = np.abs(int_ref - int_cur)
    d = np.concatenate((np.zeros((len(ps), 1)), cdf_ref - cdf_cur), axis=1)
    d0, d1 = d[:, :-1], d[:, 1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(a0 + a1 > 0, widths * (d0**2 + d1**2) / (2.0 * (a0 + a1)), 0.0)
    terms = np.where(d0 * d1 < 0, np.maximum(exact, linear), exact) / scale[:, None]
    return terms.sum(axis=1), terms
