"""Streaming, mergeable window state over a profile's bins.

A window is what the sidecar keeps per model/version/feature while predictions arrive: counts per bin
(``np.searchsorted`` + ``np.bincount`` over a column of values), plus for numeric features the sum of
the values per bin (for an exact Wasserstein distance) and the running count/mean/M2/min/max (Chan et
al.'s parallel update). Its memory depends on the number of bins only, never on the number of values.
``merge`` combines two windows exactly as if their values had been fed to one;
``to_dict``/``window_from_dict`` round-trip through JSON for checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from otelml.stats._profile import CategoricalProfile, NumericProfile, Profile

__all__ = ["NULL_KEY", "CategoricalWindow", "NumericWindow", "Window", "as_float_array", "category_keys"]

# Key standing for a missing categorical value (cannot collide with a real category, which is a str).
NULL_KEY = "\x00<null>"


def as_float_array(values: Any) -> np.ndarray:
    """1-D float64 array; missing (None, NaN, pd.NA) and non-numeric values become NaN (numeric strings
    such as ``"3.5"`` are numbers, as ``float()`` reads them)."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values.reshape(-1)
    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None:
        try:
            return np.asarray(to_numpy(dtype="float64", na_value=np.nan)).reshape(-1)
        except (TypeError, ValueError):
            values = to_numpy(dtype=object)
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        pass
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def _key(v: Any) -> str:
    if v is None:
        return NULL_KEY
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float) and math.isnan(v):
        return NULL_KEY
    try:
        if v != v:  # pd.NA / NaT-like
            return NULL_KEY
    except TypeError:
        return NULL_KEY  # pd.NA raises on truth testing
    return str(v)


def category_keys(values: Any) -> np.ndarray:
    """Object array of category keys: ``str(value)``, booleans as ``true``/``false``, missing as NULL_KEY."""
    if isinstance(values, str | bytes):
        values = [values]
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return values.reshape(-1).astype(object)  # numpy strings cannot be missing
    to_numpy = getattr(values, "to_numpy", None)
    seq = to_numpy(dtype=object) if to_numpy is not None else np.asarray(values, dtype=object)
    return np.fromiter((_key(v) for v in seq.reshape(-1)), dtype=object, count=seq.size)


class NumericWindow:
    """Counts and sums of values over a numeric profile's bins plus running moments of the values."""

    kind = "numeric"

    def __init__(self, profile: NumericProfile) -> None:
        self.profile = profile
        self.counts = np.zeros(profile.n_bins, dtype=np.int64)  # read-only outside this module
        self.sums = np.zeros(profile.n_bins, dtype=np.float64)
        self._n = 0
        self.nulls = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def n(self) -> int:
        """Number of numeric values seen (missing/non-numeric ones are in ``nulls``)."""
        return self._n

    @property
    def std(self) -> float:
        n = self.n
        return math.sqrt(self.m2 / (n - 1)) if n > 1 else 0.0

    def update(self, values: Any) -> np.ndarray:
        """Add a column of values; returns each value's bin (-1 for missing), e.g. to file exemplars."""
        x = as_float_array(values)
        if not x.size:
            return np.empty(0, dtype=np.int64)
        bins = np.searchsorted(self.profile.search_edges, x, side="right")
        total = float(x.sum())
        if math.isfinite(total):  # no NaN/inf among the values: the common case, one pass
            good, good_bins = x, bins
        else:
            finite = np.isfinite(x)
            bins[~finite] = -1
            good, good_bins = x[finite], bins[finite]
            self.nulls += int(x.size - good.size)
            if not good.size:
                return bins
            total = float(good.sum())
        n_a = self._n
        self._n += int(good.size)
        size = len(self.counts)
        self.counts += np.bincount(good_bins, minlength=size)
        self.sums += np.bincount(good_bins, weights=good, minlength=size)
        mean_b = total / good.size
        dev = good - mean_b
        self._combine(n_a, int(good.size), mean_b, float(dev @ dev), float(good.min()), float(good.max()))
        return bins

    def _combine(self, n_a: int, n_b: int, mean_b: float, m2_b: float, min_b: float, max_b: float) -> None:
        """Fold the moments of ``n_b`` more values into those of the ``n_a`` already held."""
        n = n_a + n_b
        if n_b == 0:
            return
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.min = min(self.min, min_b)
        self.max = max(self.max, max_b)

    def merge(self, other: NumericWindow) -> NumericWindow:
        """A new window equal to one fed with both windows' values."""
        _check_same(self, other)
        out = NumericWindow(self.profile)
        out.counts = self.counts + other.counts
        out._n = self._n + other._n
        out.sums = self.sums + other.sums
        out.nulls = self.nulls
        out.mean, out.m2, out.min, out.max = self.mean, self.m2, self.min, self.max
        out.nulls += other.nulls
        out._combine(self.n, other.n, other.mean, other.m2, other.min, other.max)
        return out

    def to_dict(self) -> dict[str, Any]:
        empty = self.n == 0
        return {
            "kind": "numeric",
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "nulls": self.nulls,
            "mean": self.mean,
            "m2": self.m2,
            "min": None if empty else self.min,
            "max": None if empty else self.max,
        }


class CategoricalWindow:
    """Counts over a categorical profile's categories plus its "other" bucket."""

    kind = "categorical"

    def __init__(self, profile: CategoricalProfile) -> None:
        self.profile = profile
        self.counts = np.zeros(profile.n_bins, dtype=np.int64)  # read-only outside this module
        self.nulls = 0
        self._n = 0

    @property
    def n(self) -> int:
        """Number of non-missing values seen."""
        return self._n

    def update(self, values: Any) -> np.ndarray:
        """Add a column of values; returns each value's bin (``other_bin`` if unseen, -1 if missing)."""
        bins = self.profile.bin_index(values)
        ok = bins >= 0
        present = int(ok.sum())
        self.nulls += int(bins.size) - present
        if present:
            self._n += present
            self.counts += np.bincount(bins[ok], minlength=len(self.counts))
        return bins

    def merge(self, other: CategoricalWindow) -> CategoricalWindow:
        _check_same(self, other)
        out = CategoricalWindow(self.profile)
        out.counts = self.counts + other.counts
        out._n = self._n + other._n
        out.nulls = self.nulls + other.nulls
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "counts": self.counts.tolist(), "nulls": self.nulls}


Window = NumericWindow | CategoricalWindow


def _check_same(a: Window, b: Window) -> None:
    if type(a) is not type(b) or len(a.counts) != len(b.counts):
        raise ValueError("cannot merge windows over different profiles")


def window_from_dict(data: Mapping[str, Any], profile: Profile) -> Window:
    """Restore a window saved with ``to_dict`` over the same ``profile``; raises ValueError if they differ."""
    counts = np.asarray(data["counts"], dtype=np.int64)
    if data["kind"] != profile.kind or counts.shape != (profile.n_bins,):
        raise ValueError(
            f"saved {data['kind']} window with {counts.size} bins does not fit the "
            f"{profile.kind} profile with {profile.n_bins} bins"
        )
    window: Window = profile.new_window()
    window.counts = counts.copy()
    window._n = int(counts.sum())
    window.nulls = int(data["nulls"])
    if isinstance(window, NumericWindow):
        sums = np.asarray(data["sums"], dtype=np.float64)
        if sums.shape != counts.shape:
            raise ValueError(f"saved window has {sums.size} sums for {counts.size} bins")
        window.sums = sums
        window.mean = float(data["mean"])
        window.m2 = float(data["m2"])
        window.min = math.inf if data["min"] is None else float(data["min"])
        window.max = -math.inf if data["max"] is None else float(data["max"])
    return window
