"""Fast binning of a request's rows x features matrix: a lookup table instead of a binary search.

``np.searchsorted`` costs a binary search per value (~50 ns with unpredictable branches). For the
sidecar's hot path every numeric profile also gets a table over ``[min, max)`` of the reference split
into equal cells: per cell, the bin of its left end and the one edge inside it (if any), so a value's
bin is ``base[cell] + (x >= edge[cell])`` — a few vectorised operations for all features at once. The
table is built with a margin around every cell, so a value put in a neighbouring cell by rounding still
gets the right bin; cells holding two or more edges, and values outside the reference range or
missing, fall back to ``np.searchsorted``. The result is identical to ``np.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["BinTable", "bin_matrix", "bin_table"]

CELLS = 1024  # ~13 KiB of table per numeric feature
MARGIN = 0.01  # of a cell


@dataclass(frozen=True, eq=False)  # hashed by identity, for the cache of stacked tables
class BinTable:
    lo: float
    inv_width: float
    base: np.ndarray  # bin of values just above the cell's left end (minus the margin)
    edge: np.ndarray  # the one edge inside the cell (+inf if none)
    multi: np.ndarray  # True where the cell (with margins) holds two or more edges


def bin_table(search: np.ndarray) -> BinTable | None:
    """The table for searchsorted-edges ``search`` (last edge nudged up), or None if it cannot help."""
    lo, hi = float(search[0]), float(search[-1])
    width = (hi - lo) / CELLS
    if not (np.isfinite(width) and width > 0) or width < abs(lo) * 1e-12 or width < abs(hi) * 1e-12:
        return None  # degenerate range, or cells too small to compute reliably
    left = lo + np.arange(CELLS) * width
    m = MARGIN * width
    first = np.searchsorted(search, left - m, side="right")
    after = np.searchsorted(search, left + width + m, side="right")
    inside = after - first
    edge = np.where(inside == 1, search[np.minimum(first, len(search) - 1)], np.inf)
    return BinTable(
        lo=lo, inv_width=1.0 / width, base=first.astype(np.int32), edge=edge, multi=inside >= 2
    )


@lru_cache(maxsize=16)
def _stacked(tabs: tuple[BinTable, ...]) -> tuple[np.ndarray, ...]:
    """The tables of one set of features side by side (built once per set, e.g. per model version)."""
    return (
        np.array([t.lo for t in tabs]),
        np.array([t.inv_width for t in tabs]),
        np.concatenate([t.base for t in tabs]),
        np.concatenate([t.edge for t in tabs]),
        np.concatenate([t.multi for t in tabs]),
        np.arange(len(tabs)) * CELLS,
    )


def bin_matrix(
    searches: Sequence[np.ndarray], tables: Sequence[BinTable | None], x: np.ndarray
) -> np.ndarray:
    """``np.searchsorted(searches[j], x[:, j], side='right')`` for every column j of ``x`` (n x k)."""
    n, k = x.shape
    bins = np.empty((n, k), dtype=np.int64)
    fast = [j for j in range(k) if tables[j] is not None]
    if fast:
        lo, inv, base, edge, multi, offsets = _stacked(tuple(tables[j] for j in fast))  # type: ignore[misc]
        xf = x[:, fast] if len(fast) < k else x
        with np.errstate(invalid="ignore", over="ignore"):
            t = (xf - lo) * inv
            outside = ~((t >= 0) & (t < CELLS))  # also NaN
            cell = np.clip(t, 0, CELLS - 1).astype(np.int64)
        cell[outside] = 0
        cell += offsets
        fb = base[cell] + (xf >= edge[cell])
        need = outside | multi[cell]
        cols = np.flatnonzero(need.any(axis=0))
        for c in cols:
            rows = np.flatnonzero(need[:, c])
            fb[rows, c] = np.searchsorted(searches[fast[c]], xf[rows, c], side="right")
        if len(fast) == k:
            bins[:] = fb
        else:
            bins[:, fast] = fb
    for j in range(k):
        if tables[j] is None:
            bins[:, j] = np.searchsorted(searches[j], x[:, j], side="right")
    return bins
