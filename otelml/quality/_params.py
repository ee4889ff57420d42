"""Validation of one expectation's parameters, shared by the YAML loader and the Great Expectations
suite reader (`_check_params(kind, params)` returns the normalised params or raises `_ParamError`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["TYPES", "parse_duration"]

TYPES = ("int", "float", "numeric", "string", "bool", "datetime", "category")
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class _ParamError(ValueError):
    def __init__(self, key: str | None, problem: str) -> None:
        super().__init__(problem)
        self.key = key


def _number(params: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = params.get(key)
    if value is None:
        if required:
            raise _ParamError(key, "required number is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ParamError(key, f"expected a number, got {value!r}")
    return value


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise _ParamError(key, f"expected true or false, got {value!r}")
    return value


def _mostly(params: dict[str, Any]) -> float:
    mostly = _number(params, "mostly")
    if mostly is None:
        return 1.0
    if not 0.0 <= mostly <= 1.0:
        raise _ParamError("mostly", f"must be between 0 and 1, got {mostly!r}")
    return float(mostly)


def _bounds(params: dict[str, Any]) -> dict[str, Any]:
    lo, hi = _number(params, "min"), _number(params, "max")
    if lo is None and hi is None:
        raise _ParamError(None, "give at least one of `min` and `max`")
    if lo is not None and hi is not None and lo > hi:
        raise _ParamError("min", f"min ({lo}) is greater than max ({hi})")
    return {"min": lo, "max": hi, "strict_min": _bool(params, "strict_min"),
            "strict_max": _bool(params, "strict_max")}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "90s", "15m", "2h", "1d"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)) and float(m.group(1)) > 0:
        return float(m.group(1)) * _UNITS[m.group(2)]
    raise _ParamError("max_age", 'expected a positive duration like 3600, "90s", "15m", "2h" or "1d", '
                      f"got {value!r}")


def _check_params(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    if kind == "exists":
        return {}
    if kind == "unique":
        return {"mostly": _mostly(p)}
    if kind == "of_type":  # GE dtype names (expect_column_values_to_be_of_type / _in_type_list)
        types = [p["types"]] if isinstance(p.get("types"), str) else p.get("types")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise _ParamError("types", f"expected a type name or a list of them, got {p.get('types')!r}")
        return {"types": types, "mostly": _mostly(p), "list": bool(p.get("list", False))}
    if kind == "type":
        if p["type"] not in TYPES:
            raise _ParamError("type", f"unknown type {p['type']!r}; one of {', '.join(TYPES)}")
        return {"type": p["type"]}
    if kind == "not_null":
        return {"mostly": _mostly(p)}
    if kind == "between":
        return {**_bounds(p), "mostly": _mostly(p)}
    if kind in ("in_set", "not_in_set"):
        values = p.get("values")
        if not isinstance(values, list) or not values:
            raise _ParamError("values", f"expected a non-empty list of allowed values, got {values!r}")
        return {"values": list(values), "mostly": _mostly(p)}
    if kind == "regex":
        pattern = p.get("pattern")
        if not isinstance(pattern, str):
            raise _ParamError("pattern", f"expected a regular expression string, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _ParamError("pattern", f"invalid regular expression {pattern!r}: {exc}") from None
        return {"pattern": pattern, "mostly": _mostly(p)}
    if kind in ("mean", "std", "median", "minimum", "maximum", "row_count"):
        return _bounds(p)
    if kind == "quantiles":
        return _quantiles(p)
    if kind == "drift":
        method, threshold = p.get("method"), _number(p, "threshold")
        if method is not None and not isinstance(method, str):
            raise _ParamError("method", f"expected a drift method name, got {method!r}")
        from otelml.quality._drift import validate_method

        if problem := validate_method(method):
            raise _ParamError("method", problem)
        return {"method": method, "threshold": threshold}
    if kind == "freshness":
        return {"max_age": parse_duration(p.get("max_age"))}
    raise _ParamError(None, f"unknown check {kind!r}")  # pragma: no cover - guarded by the callers


def _quantiles(p: dict[str, Any]) -> dict[str, Any]:
    spec = p.get("quantiles")
    if not isinstance(spec, Mapping) or not spec:
        raise _ParamError("quantiles", "expected a mapping of quantile -> [min, max], e.g. {0.5: [30, 40]}")
    ranges: list[tuple[float, float | None, float | None]] = []
    for q, rng in spec.items():
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
            raise _ParamError("quantiles", f"quantile {q!r} must be a number between 0 and 1")
        if not (isinstance(rng, list) and len(rng) == 2):
            raise _ParamError("quantiles",
                              f"range of quantile {q} must be [min, max] (null for open), got {rng!r}")
        lo, hi = (_number({"v": v}, "v") if v is not None else None for v in rng)
        if lo is not None and hi is not None and lo > hi:
            raise _ParamError("quantiles", f"range of quantile {q}: min {lo} is greater than max {hi}")
        ranges.append((float(q), lo, hi))
    interp = p.get("interpolation", "linear")
    if interp not in _INTERPOLATIONS:
        raise _ParamError("interpolation", f"one of {', '.join(_INTERPOLATIONS)}, got {interp!r}")
    return {"quantiles": ranges, "interpolation": interp}

