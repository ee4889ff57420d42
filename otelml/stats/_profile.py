"""Reference profiles: what one column looked like in the baseline data.

A numeric profile keeps quantile bin edges and the reference counts over them; a categorical profile
keeps the top-K categories and an "other" bucket. Both map values to bin indices (``bin_index``) and
open streaming windows over the same bins (``new_window``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otelml.stats._binning import BinTable, bin_table
from otelml.stats._window import NULL_KEY, CategoricalWindow, NumericWindow, as_float_array, category_keys

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_TOP_K",
    "TAIL_LEVELS",
    "CategoricalProfile",
    "NumericProfile",
    "Profile",
    "profile_categorical",
    "profile_column",
    "profile_from_dict",
    "profile_numeric",
]

DEFAULT_BINS = 50
DEFAULT_TOP_K = 50
# Extra quantile levels that split the outermost bins, so the tails (where a shift shows first and where
# "values the baseline almost never saw" live) are resolved finely.
TAIL_LEVELS = (0.001, 0.005, 0.995, 0.999)
# PSI and JS are computed on this many groups of equal reference mass (deciles), as PSI's usual bands
# assume and so that sampling noise in small windows does not inflate them (see docs/baseline-format.md).
COARSE_GROUPS = 10


def _search_edges(edges: np.ndarray) -> np.ndarray:
    """Edges for ``np.searchsorted(side='right')`` so that the last interior bin includes the maximum."""
    out = edges.astype(np.float64).copy()
    out[-1] = np.nextafter(out[-1], np.inf)
    return out


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Quantile bins of a numeric reference column.

    ``edges`` (non-decreasing, ``edges[0]`` = min, ``edges[-1]`` = max) define ``len(edges) + 1`` bins:
    bin 0 holds values below the reference minimum, bin ``i`` (1..len-1) values in
    ``[edges[i-1], edges[i])`` (the last one also holds the maximum), and the last bin values above the
    maximum. ``counts`` are the reference counts per bin (the two outer bins are 0 by construction).
    ``count`` is every row, ``null_count`` the missing ones; ``mean``/``std`` (sample std, ddof=1) are
    over the rest.
    """

    edges: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    count: int
    null_count: int
    min: float
    max: float
    mean: float
    std: float
    column: str | None = None
    kind: str = field(default="numeric", init=False)

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        counts = np.asarray(self.counts, dtype=np.int64)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) < 0):
            raise ValueError("edges must be at least 2 finite, non-decreasing numbers")
        if counts.shape != (len(edges) + 1,) or np.any(counts < 0):
            raise ValueError(f"counts must be {len(edges) + 1} non-negative integers (len(edges) + 1)")
        sums = np.asarray(self.sums, dtype=np.float64)
        if sums.shape != counts.shape or not np.all(np.isfinite(sums)):
            raise ValueError(f"sums must be {len(counts)} finite numbers (one per bin)")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "_search", _search_edges(edges))
        object.__setattr__(self, "_groups", _coarse_groups(counts))

    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def null_rate(self) -> float:
        return self.null_count / self.count if self.count else 0.0

    @property
    def scale(self) -> float:
        """Divisor of the normalised Wasserstein distance: the reference std (1.0 for a constant column)."""
        return self.std if self.std > 0 and math.isfinite(self.std) else 1.0

    @property
    def search_edges(self) -> np.ndarray:
        """``edges`` with the last nudged up, for ``np.searchsorted(side='right')`` (the max stays inside)."""
        return self._search  # type: ignore[attr-defined,no-any-return]

    @property
    def bin_table(self) -> BinTable | None:
        """Lookup table for binning many values fast (``otelml.stats._binning``), built on first use."""
        try:
            return self.__dict__["_bin_table"]  # type: ignore[no-any-return]
        except KeyError:
            table = bin_table(self.search_edges)
            object.__setattr__(self, "_bin_table", table)
            return table

    @property
    def coarse_groups(self) -> np.ndarray:
        """Group (decile) of each bin, used by PSI and JS."""
        return self._groups  # type: ignore[attr-defined,no-any-return]

    def bin_index(self, values: Any) -> np.ndarray:
        """Bin of each value (int64 array); -1 for missing or non-numeric values."""
        x = as_float_array(values)
        idx = np.searchsorted(self.search_edges, x, side="right")
        idx[~np.isfinite(x)] = -1
        return idx

    def new_window(self) -> NumericWindow:
        """An empty streaming window over this profile's bins."""
        return NumericWindow(self)

    def window_of(self, values: Any) -> NumericWindow:
        """A window holding ``values`` (e.g. a batch column to compare with this profile)."""
        window = self.new_window()
        window.update(values)
        return window

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "column": self.column,
            "count": self.count,
            "null_count": self.null_count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
        }


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Top-K category frequencies of a reference column plus an "other" bucket (the last bin).

    Values are compared as strings (booleans as ``true``/``false``, see ``category_keys``)."""

    categories: tuple[str, ...]
    counts: np.ndarray
    count: int
    null_count: int
    distinct: int
    column: str | None = None
    kind: str = field(default="categorical", init=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        cats = tuple(str(c) for c in self.categories)
        if counts.shape != (len(cats) + 1,) or np.any(counts < 0):
            raise ValueError(f"counts must be {len(cats) + 1} non-negative integers (categories + other)")
        if len(set(cats)) != len(cats):
            raise ValueError("categories must be unique")
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(cats)})
        object.__setattr__(self, "_key_bins", None)

    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def other_bin(self) -> int:
        return len(self.categories)

    @property
    def null_rate(self) -> float:
        return self.null_count / self.count if self.count else 0.0

    def bin_index(self, values: Any) -> np.ndarray:
        """Bin of each value (int64 array): its category, ``other_bin`` if unseen, -1 if missing."""
        if isinstance(values, np.ndarray) and values.dtype.kind == "U":
            uniq, inverse = np.unique(values, return_inverse=True)  # fast path: C string sort
        else:
            uniq, inverse = np.unique(category_keys(values), return_inverse=True)
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        other = self.other_bin
        keys = uniq.tolist()
        lut = np.array([-1 if u == NULL_KEY else index.get(str(u), other) for u in keys], dtype=np.int64)
        return lut[inverse.reshape(-1)] if len(uniq) else np.empty(0, dtype=np.int64)

    def key_bins(self) -> dict[Any, int]:
        """Bin of each category key, -1 for the missing-value keys (NULL_KEY, None); built once."""
        lookup: dict[Any, int] | None = self._key_bins  # type: ignore[attr-defined]
        if lookup is None:
            lookup = {**self._index, NULL_KEY: -1, None: -1}  # type: ignore[attr-defined]
            object.__setattr__(self, "_key_bins", lookup)
        return lookup

    def new_window(self) -> CategoricalWindow:
        """An empty streaming window over this profile's categories."""
        return CategoricalWindow(self)

    def window_of(self, values: Any) -> CategoricalWindow:
        """A window holding ``values`` (e.g. a batch column to compare with this profile)."""
        window = self.new_window()
        window.update(values)
        return window

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "column": self.column,
            "count": self.count,
            "null_count": self.null_count,
            "distinct": self.distinct,
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
        }


Profile = NumericProfile | CategoricalProfile


def _coarse_groups(counts: np.ndarray, groups: int = COARSE_GROUPS) -> np.ndarray:
    """Assign bins to ``groups`` runs of about equal reference mass; the outer bins join their neighbours.

    A group boundary is put at the edge whose reference CDF is closest to k/groups, so with the default
    50 quantile bins the groups are exactly the reference deciles."""
    n = len(counts)
    total = counts.sum()
    if total <= 0 or n <= 2:
        return np.zeros(n, dtype=np.int64)
    cdf = np.cumsum(counts)[:-1] / total  # CDF at the upper edge of bins 0..n-2
    cuts = sorted({int(np.argmin(np.abs(cdf - k / groups))) for k in range(1, groups)})
    bins = np.arange(n)
    return np.searchsorted(np.asarray(cuts), bins, side="left").astype(np.int64)


def profile_numeric(values: Any, bins: int = DEFAULT_BINS, column: str | None = None) -> NumericProfile:
    """Profile a numeric column: edges at the reference quantiles k/bins plus ``TAIL_LEVELS``."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    x = as_float_array(values)
    count = int(x.size)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise ValueError("no numeric values to profile (every value is missing or non-numeric)")
    levels = np.union1d(np.arange(bins + 1) / bins, TAIL_LEVELS)
    edges = np.unique(np.quantile(finite, levels))
    if len(edges) == 1:
        edges = np.repeat(edges, 2)  # constant column: one interior bin holding exactly that value
    search = _search_edges(edges)
    idx = np.searchsorted(search, finite, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    sums = np.bincount(idx, weights=finite, minlength=len(edges) + 1)
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return NumericProfile(
        edges=edges,
        counts=counts,
        sums=sums,
        count=count,
        null_count=count - int(finite.size),
        min=float(finite.min()),
        max=float(finite.max()),
        mean=float(finite.mean()),
        std=std,
        column=column,
    )


def profile_categorical(
    values: Any, top_k: int = DEFAULT_TOP_K, column: str | None = None
) -> CategoricalProfile:
    """Profile a categorical column: the ``top_k`` most frequent values (ties by name) and "other"."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        uniq, freq = np.unique(values, return_counts=True)
        total = int(values.size)
    else:
        keys = category_keys(values)
        uniq, freq = np.unique(keys, return_counts=True)
        total = int(keys.size)
    uniq, freq = uniq.astype(object), freq
    real = uniq != NULL_KEY
    uniq, freq = uniq[real], freq[real]
    if not len(uniq):
        raise ValueError("no values to profile (every value is missing)")
    order = sorted(range(len(uniq)), key=lambda i: (-int(freq[i]), str(uniq[i])))
    top = order[:top_k]
    counts = [int(freq[i]) for i in top] + [int(sum(int(freq[i]) for i in order[top_k:]))]
    return CategoricalProfile(
        categories=tuple(str(uniq[i]) for i in top),
        counts=np.asarray(counts),
        count=total,
        null_count=total - int(freq.sum()),
        distinct=len(uniq),
        column=column,
    )


def is_numeric_column(values: Any) -> bool:
    """True for int/float columns, numpy or pandas (bool, string and object columns are categorical)."""
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    return getattr(dtype, "kind", "O") in "iuf"


def profile_column(
    values: Any, bins: int = DEFAULT_BINS, top_k: int = DEFAULT_TOP_K, column: str | None = None
) -> Profile:
    """Numeric or categorical profile, chosen by the column's dtype."""
    if is_numeric_column(values):
        return profile_numeric(values, bins=bins, column=column)
    return profile_categorical(values, top_k=top_k, column=column)


def profile_from_dict(data: Mapping[str, Any]) -> Profile:
    """Inverse of ``to_dict``; raises KeyError/ValueError/TypeError on malformed input."""
    kind = data["kind"]
    if kind == "numeric":
        return NumericProfile(
            edges=np.asarray(data["edges"], dtype=np.float64),
            counts=np.asarray(data["counts"], dtype=np.int64),
            sums=np.asarray(data["sums"], dtype=np.float64),
            count=int(data["count"]),
            null_count=int(data["null_count"]),
            min=float(data["min"]),
            max=float(data["max"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            column=data.get("column"),
        )
    if kind == "categorical":
        cats: Iterable[Any] = data["categories"]
        return CategoricalProfile(
            categories=tuple(str(c) for c in cats),
            counts=np.asarray(data["counts"], dtype=np.int64),
            count=int(data["count"]),
            null_count=int(data["null_count"]),
            distinct=int(data["distinct"]),
            column=data.get("column"),
        )
    raise ValueError(f"unknown profile kind {kind!r} (expected 'numeric' or 'categorical')")
