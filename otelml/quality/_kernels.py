"""Fast kernels behind the checks, each equal in result to the plain pandas/numpy expression it replaces.

- Arrow-backed string columns (pandas' default `str` dtype with pyarrow) are checked with pyarrow
  compute on the Arrow data itself: `is_in` without pandas' wrapping, and regexes evaluated once per
  distinct value, the few failing values then located with `equal`/`is_in`.
- Quantiles and the median select the needed order statistics with one single-kth `np.partition`
  each (numpy's SIMD selection), recursing into the two halves; numpy's multi-kth partition, which
  `np.quantile` and `np.median` use, takes a much slower path. The interpolation is numpy's arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

__all__ = ["arrow_strings", "median", "quantiles", "regex_failures", "string_isin"]

_FAST_QUANTILE_MIN = 4096  # below this np.quantile is as fast; keep its exact code path
_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {"lower": np.floor, "higher": np.ceil,
                                                             "nearest": np.around}


def arrow_strings(series: pd.Series) -> Any:
    """The pyarrow ChunkedArray behind an Arrow-backed string column, else None."""
    dtype = series.dtype
    arrow_backed = (isinstance(dtype, pd.StringDtype) and dtype.storage in ("pyarrow", "pyarrow_numpy")) or (
        isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in ("string", "large_string"))
    if not arrow_backed:
        return None
    import pyarrow as pa

    data = series.array.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def _to_bool(mask: Any) -> np.ndarray:
    import pyarrow.compute as pc

    if mask.null_count:
        mask = pc.fill_null(mask, False)
    return np.asarray(mask.to_numpy(), dtype=bool)


def string_isin(data: Any, values: Iterable[Any]) -> np.ndarray:
    """`Series.isin(values)` of an Arrow string column as a numpy bool array (nulls False). Like
    pandas, only the string members of `values` can match."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = [v for v in values if isinstance(v, str)]
    if not wanted:
        return np.zeros(len(data), dtype=bool)
    if len(wanted) == 1:
        return _to_bool(pc.equal(data, pa.scalar(wanted[0], type=data.type)))
    return _to_bool(pc.is_in(data, value_set=pa.array(wanted, type=data.type)))


def regex_failures(data: Any, pattern: str, max_distinct: int) -> np.ndarray | None:
    """Rows (numpy bool) whose non-missing value `re.search(pattern)` does not match, searching each
    distinct value once; None when there are more than `max_distinct` distinct values."""
    import pyarrow.compute as pc

    distinct = pc.unique(data)
    if len(distinct) > max_distinct:
        return None
    rx = re.compile(pattern)
    failing = [v for v in distinct.to_pylist() if v is not None and rx.search(v) is None]
    if not failing:
        return np.zeros(len(data), dtype=bool)
    return string_isin(data, failing)


def quantiles(v: np.ndarray, qs: Sequence[float], method: str) -> np.ndarray:
    """`np.quantile(v, qs, method=method)` for a 1-d float64 array without NaN; reorders `v`."""
    n = v.size
    if n < _FAST_QUANTILE_MIN or method not in (*_ROUNDING, "linear", "midpoint"):
        return np.quantile(v, qs, method=cast(Any, method), overwrite_input=True)
    q = np.asarray(qs, dtype=np.float64)
    virtual = (n - 1) * q
    if method in _ROUNDING:
        index = _ROUNDING[method](virtual).astype(np.intp)
        _select(v, np.unique(index))
        return v[index]
    if method == "midpoint":
        virtual = 0.5 * (np.floor(virtual) + np.ceil(virtual))
    # numpy's _get_indexes / _get_gamma / _lerp, step by step
    prev = np.floor(virtual)
    nxt = prev + 1
    above, below = virtual >= n - 1, virtual < 0
    prev[above] = nxt[above] = -1
    prev[below] = nxt[below] = 0
    prev_i, next_i = prev.astype(np.intp), nxt.astype(np.intp)
    _select(v, np.unique(np.concatenate(([0, n - 1], prev_i % n, next_i % n))))
    a, b = v[prev_i], v[next_i]
    gamma = np.asanyarray(virtual - prev_i)
    if method == "midpoint":
        gamma = np.where(virtual % 1 == 0, 0.0, 0.5)
    gamma = np.asanyarray(gamma, dtype=virtual.dtype)
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe")
    return out


def median(v: np.ndarray) -> float:
    """`np.median(v)` for a 1-d float64 array without NaN (the mean of the middle one or two values,
    computed by `np.mean` as numpy does); reorders `v`."""
    n = v.size
    if n < _FAST_QUANTILE_MIN:
        return float(np.median(v, overwrite_input=True))
    middle = np.array([n // 2] if n % 2 else [n // 2 - 1, n // 2], dtype=np.intp)
    _select(v, middle)
    return float(np.mean(v[middle]))


def _select(v: np.ndarray, positions: np.ndarray) -> None:
    """Reorder `v` so that each of the sorted `positions` holds the value it would hold if sorted."""
    stack = [(0, v.size, 0, positions.size)]
    while stack:
        lo, hi, first, last = stack.pop()
        if first >= last:
            continue
        mid = (first + last) // 2
        k = int(positions[mid])
        v[lo:hi].partition(k - lo)
        stack.append((lo, k, first, mid))
        stack.append((k + 1, hi, mid + 1, last))
