"""Updating many numeric windows from one matrix (one row per observation, one column per window).

The sidecar's drift processor feeds ~20 numeric features per 512-span request; calling
``NumericWindow.update`` per column costs ~10 numpy calls per column, most of it call overhead at that
size. ``update_numeric`` gives the same window state (up to floating-point summation order) with one
``searchsorted`` per column and a fixed number of calls for the counts, sums, sum of squares and
min/max of all columns together. It writes the window's fields directly, so it must follow
``NumericWindow``'s layout (tests/collector/test_drift_stats_many.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otelml.stats._binning import bin_matrix
from otelml.stats._window import NumericWindow

__all__ = ["update_numeric"]


def update_numeric(windows: Sequence[NumericWindow], values: np.ndarray) -> np.ndarray:
    """Add ``values[:, j]`` to ``windows[j]`` for every j; returns the bins (n x len(windows) int64,
    -1 for missing values), identical to calling ``windows[j].update(values[:, j])`` column by column."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(windows):
        raise ValueError(f"values must be n x {len(windows)}, got shape {x.shape}")
    n, k = x.shape
    bins = np.empty((n, k), dtype=np.int64)
    if n == 0 or k == 0:
        return bins
    bins = bin_matrix([w.profile.search_edges for w in windows], [w.profile.bin_table for w in windows], x)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    if not all_finite:
        bins[~finite] = -1
    sizes = np.array([len(w.counts) for w in windows])
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    flat = (bins + offsets).ravel()
    xs = x.ravel()
    if not all_finite:
        keep = finite.ravel()
        flat, xs = flat[keep], xs[keep]
    total = int(sizes.sum())
    counts = np.bincount(flat, minlength=total)
    sums = np.bincount(flat, weights=xs, minlength=total)
    good_n = finite.sum(axis=0) if not all_finite else np.full(k, n)
    if not all(hasattr(w, "sumsq") for w in windows):  # a window layout this function does not know
        for j, w in enumerate(windows):
            w.update(x[:, j].copy())
        return bins
    centre = np.array([w.profile.mean for w in windows])  # sums of squares are about the reference mean
    with np.errstate(invalid="ignore"):
        dev = x - centre if all_finite else np.where(finite, x - centre, 0.0)
        sumsq = np.einsum("ij,ij->j", dev, dev)
        mins = x.min(axis=0) if all_finite else np.where(finite, x, np.inf).min(axis=0)
        maxs = x.max(axis=0) if all_finite else np.where(finite, x, -np.inf).max(axis=0)
    for j, w in enumerate(windows):
        o, s = offsets[j], sizes[j]
        nb = int(good_n[j])
        w.nulls += n - nb
        if nb == 0:
            continue
        w.counts += counts[o : o + s]
        w.sums += sums[o : o + s]
        w._n += nb
        w.sumsq += float(sumsq[j])
        w.min = min(w.min, float(mins[j]))
        w.max = max(w.max, float(maxs[j]))
    return bins
