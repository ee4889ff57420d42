"""The checks, vectorised over pandas columns: one implementation used by `otelml validate`, the Python
API and the sidecar's online quality processor (which hands in its window as a DataFrame).

Column checks follow Great Expectations' meaning: row checks (between, in_set, unique, regex) ignore
missing values and `mostly` is the share of non-missing values that must pass; `not_null` counts over
all rows; an empty column passes row checks vacuously. Aggregates (mean/std/median/quantiles) use the
non-missing values; std is the sample standard deviation (ddof=1), as pandas and GE compute it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from otelml.quality import _kernels
from otelml.quality._model import Example, Expectation, ExpectationResult

__all__ = ["CheckContext", "run_check", "within_bounds"]


@dataclass
class CheckContext:
    baseline: Any = None  # otelml.stats baseline, for `drift`
    now: float | None = None  # Unix seconds for `freshness`; time.time() when None
    max_examples: int = 5


class _Fail(Exception):
    """A check cannot be evaluated on this data (e.g. wrong column type); becomes a failed result."""


def run_check(exp: Expectation, df: pd.DataFrame, ctx: CheckContext) -> ExpectationResult:
    n = len(df)
    if exp.kind == "row_count":
        return ExpectationResult(exp, within_bounds(n, exp.params), observed_value=n, element_count=n)
    if exp.kind == "unsupported":
        return ExpectationResult(exp, False, message=exp.params["reason"], element_count=n)
    col = exp.column
    if exp.kind == "exists":
        found = col in df.columns
        return ExpectationResult(exp, found, observed_value=found, element_count=n,
                                 message="" if found else _missing(col, df))
    if col not in df.columns:
        return ExpectationResult(exp, False, element_count=n, message=_missing(col, df))
    series = df[col]
    if isinstance(series, pd.DataFrame):
        return ExpectationResult(exp, False, element_count=n, message=(
            f"column {col!r} appears {series.shape[1]} times; rename the duplicates"))
    try:
        return _CHECKS[exp.kind](exp, series, ctx)
    except _Fail as exc:
        return ExpectationResult(exp, False, element_count=n, message=str(exc))
    except (TypeError, ValueError, OverflowError) as exc:  # odd data must not cost the other results
        return ExpectationResult(exp, False, element_count=n,
                                 message=f"column {col!r}: {exp.kind} could not be evaluated: {exc}")


def _missing(col: str | None, df: pd.DataFrame) -> str:
    names = [str(c) for c in df.columns[:12]]
    more = ", ..." if len(df.columns) > 12 else ""
    return f"column {col!r} not found; the data has: {', '.join(names)}{more}"


def within_bounds(x: float, p: dict[str, Any]) -> bool:
    """`x` lies within the bounds `p` (min, max, strict_min, strict_max; None = open); NaN never does."""
    lo, hi = p.get("min"), p.get("max")
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return False
    if lo is not None and (x <= lo if p.get("strict_min") else x < lo):
        return False
    return not (hi is not None and (x >= hi if p.get("strict_max") else x > hi))


def _numeric(series: pd.Series, kind: str) -> np.ndarray:
    """float64 values with NaN for missing; `_Fail` naming the column when it is not numeric."""
    if not pdt.is_numeric_dtype(series.dtype):
        raise _Fail(f"column {series.name!r} is not numeric (dtype {series.dtype}); {kind} needs numbers")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _map_result(exp: Expectation, series: pd.Series, bad: np.ndarray, considered: int, ctx: CheckContext,
                observed: Any = None, missing: int = 0) -> ExpectationResult:
    """Result of a row check: `bad` marks unexpected rows among all rows."""
    positions = np.flatnonzero(bad)
    count = int(positions.size)
    mostly = exp.params.get("mostly", 1.0)
    success = considered == 0 or (considered - count) / considered >= mostly
    take = positions[: ctx.max_examples]
    examples = [Example(row, value) for row, value in
                zip(series.index[take].tolist(), series.iloc[take].tolist(), strict=True)]
    return ExpectationResult(
        exp, bool(success), observed_value=observed, element_count=len(series), missing_count=missing,
        unexpected_count=count, unexpected_percent=100.0 * count / considered if considered else 0.0,
        examples=examples, unexpected_positions=positions,
    )


def _nulls(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy()


def _check_type(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    want, dtype = exp.params["type"], series.dtype
    ok = {
        "int": lambda: pdt.is_integer_dtype(dtype) or (pdt.is_float_dtype(dtype) and _integral(series)),
        "float": lambda: pdt.is_float_dtype(dtype),
        "numeric": lambda: pdt.is_numeric_dtype(dtype) and not pdt.is_bool_dtype(dtype),
        "string": lambda: pdt.is_string_dtype(dtype) and _all_str(series),
        "bool": lambda: pdt.is_bool_dtype(dtype),
        "datetime": lambda: pdt.is_datetime64_any_dtype(dtype),
        "category": lambda: isinstance(dtype, pd.CategoricalDtype)
        or (pdt.is_string_dtype(dtype) and _all_str(series)),
    }[want]()
    return ExpectationResult(exp, bool(ok), observed_value=str(dtype), element_count=len(series),
                             message="" if ok else
                             f"column {series.name!r} has dtype {dtype}, expected {want}")


_OBJECT_NAMES = frozenset({"object", "object_", "O"})
_NATIVE = {"none": (type(None),), "bool": (bool,), "int": (int,), "long": (int,), "float": (float,),
           "bytes": (bytes,), "complex": (complex,), "str": (str,), "string_types": (str,), "list": (list,),
           "dict": (dict,)}


def _ge_types(names: list[str], *, dtypes: bool = False) -> list[Any]:
    """What Great Expectations' pandas engine compares with for these type names: numpy scalar types
    (plus the dtypes themselves for `dtypes`, as its in_type_list does), pandas types, Python types."""
    out: list[Any] = []
    for name in names:
        try:
            out.append(np.dtype(name).type)
            if dtypes:
                out.append(np.dtype(name))
        except TypeError:
            found = getattr(pd, name, None)
            if isinstance(found, type):
                out.append(found)
                if dtypes:
                    try:
                        if isinstance(found(), pd.api.extensions.ExtensionDtype):
                            out.append(found())
                    except TypeError:
                        pass
            found = getattr(pd.core.dtypes.dtypes, name, None)
            if isinstance(found, type):
                out.append(found)
        out.extend(_NATIVE.get(name.lower(), ()))
    return out


def _check_of_type(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    """GE's meaning. of_type: the dtype's scalar type is one of the named types; in_type_list
    (`list`): the dtype itself is among them. An object column is checked value by value (missing
    values ignored, `mostly` applies) — for of_type unless the name is `object`."""
    names, as_list = exp.params["types"], exp.params.get("list", False)
    accepted = tuple(t for t in _ge_types(names) if isinstance(t, type))
    if not accepted:
        raise _Fail(f"no recognised numpy/pandas/python type in {names}")
    dtype = series.dtype
    if pdt.is_object_dtype(dtype) and (as_list or not _OBJECT_NAMES & set(names)):
        nonnull = ~_nulls(series)
        ok = np.fromiter((isinstance(x, accepted) for x in series.to_numpy()), dtype=bool, count=len(series))
        considered = int(nonnull.sum())
        res = _map_result(exp, series, nonnull & ~ok, considered, ctx, missing=len(series) - considered)
        res.observed_value = "object"
        return res
    matches = dtype in _ge_types(names, dtypes=True) if as_list else dtype.type in accepted
    return ExpectationResult(exp, bool(matches), observed_value=str(dtype), element_count=len(series),
                             message="" if matches else
                             f"column {series.name!r} has dtype {dtype}, expected {names}")


def _integral(series: pd.Series) -> bool:
    v = series.to_numpy(dtype=np.float64, na_value=np.nan)
    v = v[~np.isnan(v)]
    return bool(np.all(np.isfinite(v)) and np.all(v == np.floor(v)))


def _all_str(series: pd.Series) -> bool:
    if not pdt.is_object_dtype(series.dtype):
        return True
    return bool(series.dropna().map(type).eq(str).all())


def _check_not_null(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    bad = _nulls(series)
    missing = int(bad.sum())
    res = _map_result(exp, series, bad, len(series), ctx, missing=missing)
    res.observed_value = {"null_fraction": missing / len(series) if len(series) else 0.0}
    return res


def _check_between(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    v = _numeric(series, "between")
    nonnull = ~np.isnan(v)
    p = exp.params
    ok = np.ones(v.shape, dtype=bool)
    if p["min"] is not None:
        ok &= (v > p["min"]) if p["strict_min"] else (v >= p["min"])
    if p["max"] is not None:
        ok &= (v < p["max"]) if p["strict_max"] else (v <= p["max"])
    considered = int(nonnull.sum())
    observed = {"min": float(np.nanmin(v)), "max": float(np.nanmax(v))} if considered else None
    return _map_result(exp, series, nonnull & ~ok, considered, ctx, observed, len(v) - considered)


def _isin(series: pd.Series, values: list[Any]) -> np.ndarray:
    data = _kernels.arrow_strings(series)
    return series.isin(values).to_numpy() if data is None else _kernels.string_isin(data, values)


def _check_in_set(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    nonnull = ~_nulls(series)
    bad = nonnull & ~_isin(series, exp.params["values"])
    considered = int(nonnull.sum())
    res = _map_result(exp, series, bad, considered, ctx, missing=len(series) - considered)
    if res.unexpected_count:
        unseen = pd.unique(series.iloc[res.unexpected_positions])
        res.observed_value = {"unexpected_values": [_plain(x) for x in unseen[:20]],
                              "distinct_unexpected": len(unseen)}
    return res


def _check_not_in_set(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    nonnull = ~_nulls(series)
    bad = nonnull & _isin(series, exp.params["values"])
    considered = int(nonnull.sum())
    res = _map_result(exp, series, bad, considered, ctx, missing=len(series) - considered)
    if res.unexpected_count:
        found = pd.unique(series.iloc[res.unexpected_positions])
        res.observed_value = {"forbidden_values": [_plain(x) for x in found[:20]]}
    return res


def _check_unique(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    nonnull = ~_nulls(series)
    if pdt.is_numeric_dtype(series.dtype) and not pdt.is_extension_array_dtype(series.dtype):
        values = series.to_numpy()
        present = values[nonnull] if not nonnull.all() else values
        lo = int(present.min()) if present.size and pdt.is_integer_dtype(series.dtype) else 0
        span = int(present.max()) - lo if present.size and pdt.is_integer_dtype(series.dtype) else -1
        if 0 <= span <= 4 * len(present):  # dense integers (ids): count them directly
            shifted = present - lo
            repeated = np.bincount(shifted, minlength=span + 1) > 1
            bad = np.zeros(len(series), dtype=bool)
            if repeated.any():
                hits = repeated[shifted]
                if present is values:
                    bad = hits
                else:
                    bad[nonnull] = hits
        else:
            ordered = np.sort(present)  # SIMD sort beats hashing for numbers
            repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
            bad = nonnull & np.isin(values, repeated) if repeated.size else np.zeros(len(series), dtype=bool)
    elif nonnull.all():
        bad = series.duplicated(keep=False).to_numpy()
    else:
        bad = np.zeros(len(series), dtype=bool)
        bad[nonnull] = series[nonnull].duplicated(keep=False).to_numpy()
    considered = int(nonnull.sum())
    res = _map_result(exp, series, bad, considered, ctx, missing=len(series) - considered)
    res.observed_value = {"duplicated_values": int(series.iloc[res.unexpected_positions].nunique())
                          if res.unexpected_count else 0}
    return res


def _check_regex(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    pattern = exp.params["pattern"]
    few = max(1000, len(series) // 4)  # up to this many distinct values: search each once
    data = _kernels.arrow_strings(series)
    bad: np.ndarray | None = None
    if data is not None:
        nonnull = ~_nulls(series)
        bad = _kernels.regex_failures(data, pattern, few)
    else:
        codes, uniques = pd.factorize(series)  # missing -> -1
        nonnull = codes >= 0
        if len(uniques) <= few:
            rx = re.compile(pattern)
            ok = np.fromiter((rx.search(str(v)) is not None for v in uniques), dtype=bool,
                             count=len(uniques))
            bad = nonnull & ~ok[codes] if len(uniques) else np.zeros(len(series), dtype=bool)
    if bad is None:
        values = series[nonnull]
        try:  # pandas' (pyarrow) vectorised search; Python's `re` where RE2 lacks a feature
            matched = values.astype(str).str.contains(pattern, regex=True).to_numpy(dtype=bool)
        except Exception:
            rx = re.compile(pattern)
            matched = np.fromiter((rx.search(str(x)) is not None for x in values), dtype=bool,
                                  count=len(values))
        bad = np.zeros(len(series), dtype=bool)
        bad[nonnull] = ~matched
    considered = int(nonnull.sum())
    return _map_result(exp, series, bad, considered, ctx, missing=len(series) - considered)


def _present(series: pd.Series, kind: str, *, writable: bool = False) -> np.ndarray:
    """The non-missing values as float64; a copy only when there are missing values or `writable`
    (the caller reorders it), so the caller's data is never modified."""
    v = _numeric(series, kind)
    missing = np.isnan(v)
    if missing.any():
        return v[~missing]
    return v.copy() if writable else v


def _aggregate(fn: Callable[[np.ndarray], float], name: str, *, writable: bool = False):
    def check(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
        v = _present(series, name, writable=writable)
        n = len(series)
        if v.size == 0:
            return ExpectationResult(exp, False, element_count=n, missing_count=n,
                                     message=f"column {series.name!r} has no non-missing values")
        observed = float(fn(v))
        return ExpectationResult(exp, within_bounds(observed, exp.params), observed_value=observed,
                                 element_count=n, missing_count=n - int(v.size))
    return check


def _std(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1)) if v.size > 1 else float("nan")


def _check_quantiles(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    v = _present(series, "quantiles", writable=True)
    n = len(series)
    if v.size == 0:
        return ExpectationResult(exp, False, element_count=n, missing_count=n,
                                 message=f"column {series.name!r} has no non-missing values")
    ranges = exp.params["quantiles"]
    qs = _kernels.quantiles(v, [q for q, _, _ in ranges], exp.params["interpolation"])
    observed = {str(q): float(x) for (q, _, _), x in zip(ranges, qs, strict=True)}
    pairs = zip(ranges, qs, strict=True)
    ok = all(within_bounds(float(x), {"min": lo, "max": hi}) for (_, lo, hi), x in pairs)
    return ExpectationResult(exp, ok, observed_value=observed, element_count=n, missing_count=n - int(v.size))


def _check_freshness(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    now = ctx.now if ctx.now is not None else time.time()
    nulls = _nulls(series)
    if pdt.is_numeric_dtype(series.dtype) and not pdt.is_bool_dtype(series.dtype):
        seconds = series.to_numpy(dtype=np.float64, na_value=np.nan)  # Unix seconds
    else:
        if pdt.is_datetime64_any_dtype(series.dtype):
            parsed = series if getattr(series.dtype, "tz", None) else series.dt.tz_localize("UTC")
        else:
            parsed = pd.to_datetime(series, utc=True, errors="coerce", format="mixed")
        seconds = parsed.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
        seconds[parsed.isna().to_numpy()] = np.nan
    unparsed = ~nulls & np.isnan(seconds)
    considered = int((~nulls).sum())
    res = _map_result(exp, series, unparsed, considered, ctx, missing=len(series) - considered)
    valid = seconds[~np.isnan(seconds)]
    if valid.size == 0:
        res.success = False
        res.message = f"column {series.name!r} has no timestamps that could be read"
        return res
    age = now - float(valid.max())
    res.observed_value = {"age_seconds": round(age, 3), "newest": pd.Timestamp(valid.max(), unit="s",
                                                                                tz="UTC").isoformat()}
    res.success = age <= exp.params["max_age"] and res.unexpected_count == 0
    if res.unexpected_count:
        res.message = f"{res.unexpected_count} values of {series.name!r} are not timestamps"
    return res


def _check_drift(exp: Expectation, series: pd.Series, ctx: CheckContext) -> ExpectationResult:
    from otelml.quality._drift import check_drift

    return check_drift(exp, series, ctx.baseline)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


_CHECKS: dict[str, Callable[[Expectation, pd.Series, CheckContext], ExpectationResult]] = {
    "type": _check_type,
    "not_null": _check_not_null,
    "between": _check_between,
    "in_set": _check_in_set,
    "unique": _check_unique,
    "regex": _check_regex,
    "mean": _aggregate(np.mean, "mean"),
    "std": _aggregate(_std, "std"),
    "median": _aggregate(_kernels.median, "median", writable=True),
    "minimum": _aggregate(np.min, "minimum"),
    "maximum": _aggregate(np.max, "maximum"),
    "not_in_set": _check_not_in_set,
    "of_type": _check_of_type,
    "quantiles": _check_quantiles,
    "freshness": _check_freshness,
    "drift": _check_drift,
}
