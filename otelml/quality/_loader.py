"""Read expectation files: otelml's YAML format (documented in docs/quality.md) or a Great Expectations
suite (JSON), into a flat list of validated `Expectation`s. Every problem raises
`ExpectationFileError` naming the file, the line and the key path (e.g. `columns.age.between.min`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otelml.quality._errors import ExpectationFileError
from otelml.quality._model import Expectation
from otelml.quality._yaml import line_of, load_yaml

__all__ = ["COLUMN_KINDS", "TABLE_KINDS", "TYPES", "load_expectations", "parse_expectations"]

TYPES = ("int", "float", "numeric", "string", "bool", "datetime", "category")
TABLE_KINDS = ("row_count",)
COLUMN_KINDS = (
    "exists", "type", "not_null", "between", "in_set", "not_in_set", "unique", "regex",
    "mean", "std", "median", "minimum", "maximum", "quantiles", "drift", "freshness",
)
_BOUND_KEYS = ("min", "max", "strict_min", "strict_max")
# kind -> (allowed keys, shorthand key used when the value is not a mapping)
_SPECS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "exists": ((), None),
    "type": (("type",), "type"),
    "not_null": (("mostly",), None),
    "between": ((*_BOUND_KEYS, "mostly"), None),
    "in_set": (("values", "mostly"), "values"),
    "not_in_set": (("values", "mostly"), "values"),
    "unique": (("mostly",), None),
    "regex": (("pattern", "mostly"), "pattern"),
    "mean": (_BOUND_KEYS, None),
    "std": (_BOUND_KEYS, None),
    "median": (_BOUND_KEYS, None),
    "minimum": (_BOUND_KEYS, None),
    "maximum": (_BOUND_KEYS, None),
    "quantiles": (("quantiles", "interpolation"), "quantiles"),
    "drift": (("method", "threshold"), "method"),
    "freshness": (("max_age",), "max_age"),
    "row_count": (_BOUND_KEYS, None),
}
_FLAG_KINDS = ("exists", "unique", "not_null")  # `kind: true` turns them on
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def load_expectations(path: str | Path) -> list[Expectation]:
    """Load an expectations file: otelml YAML, or a Great Expectations suite JSON (detected by its
    top-level `expectations` list)."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExpectationFileError(p, "file not found; pass an existing --expectations file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpectationFileError(p, f"cannot read: {exc}") from None
    return parse_expectations(load_yaml(text, p), p)


def parse_expectations(doc: Any, path: str = "<expectations>") -> list[Expectation]:
    """Validate an already-parsed document (a mapping) and return its expectations."""
    if not isinstance(doc, Mapping):
        raise ExpectationFileError(path, "expected a mapping with `columns:` and/or `table:` "
                                   "(or a Great Expectations suite with `expectations:`)", line=1)
    if isinstance(doc.get("expectations"), list):
        from otelml.quality._ge import parse_ge_suite

        return parse_ge_suite(doc, path)
    return _Parser(path).parse(doc)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, container: Any, key: Any, keypath: str, problem: str) -> ExpectationFileError:
        return ExpectationFileError(self.path, problem, line=line_of(container, key), key=keypath)

    def parse(self, doc: Mapping[str, Any]) -> list[Expectation]:
        for key in doc:
            if key not in ("version", "columns", "table", "description"):
                raise self.fail(doc, key, str(key), "unknown top-level key; expected `columns`, `table`, "
                                "`version` or `description`")
        version = doc.get("version", 1)
        if version != 1:
            raise self.fail(doc, "version", "version",
                            f"unsupported version {version!r}; this otelml reads 1")
        out: list[Expectation] = []
        table = doc.get("table") or {}
        if not isinstance(table, Mapping):
            raise self.fail(doc, "table", "table", "expected a mapping of table checks, e.g. row_count")
        for kind, raw in table.items():
            if kind not in TABLE_KINDS:
                raise self.fail(table, kind, f"table.{kind}",
                                f"unknown table check; known: {', '.join(TABLE_KINDS)}")
            out.append(self.build(kind, None, raw, table, f"table.{kind}"))
        columns = doc.get("columns") or {}
        if not isinstance(columns, Mapping):
            raise self.fail(doc, "columns", "columns", "expected a mapping of column name -> checks")
        for col, checks in columns.items():
            keypath = f"columns.{col}"
            if checks is None:
                checks = {"exists": True}
            if not isinstance(checks, Mapping):
                raise self.fail(columns, col, keypath, "expected a mapping of checks, e.g. {not_null: true}")
            for kind, raw in checks.items():
                if kind not in COLUMN_KINDS:
                    raise self.fail(checks, kind, f"{keypath}.{kind}",
                                    f"unknown check; known: {', '.join(COLUMN_KINDS)}")
                if kind in _FLAG_KINDS and raw is False:
                    continue
                out.append(self.build(kind, str(col), raw, checks, f"{keypath}.{kind}"))
        return out

    def build(self, kind: str, column: str | None, raw: Any, parent: Any, keypath: str) -> Expectation:
        allowed, shorthand = _SPECS[kind]
        if kind in _FLAG_KINDS and raw is True:
            raw = {}
        if isinstance(raw, Mapping) and not (kind == "quantiles" and "quantiles" not in raw):
            params = dict(raw)
            where: Any = raw
        elif shorthand is not None:
            params, where = {shorthand: raw}, parent
        else:
            raise self.fail(parent, kind.split(".")[-1], keypath,
                            f"expected a mapping with keys {', '.join(allowed) or '(none)'}"
                            + (" or `true`" if kind in _FLAG_KINDS else ""))
        for key in params:
            if key not in allowed:
                raise self.fail(where, key, f"{keypath}.{key}",
                                f"unknown key; allowed: {', '.join(allowed) or '(none)'}")
        line = line_of(where, next(iter(params), None)) or line_of(parent, kind)
        try:
            params = _check_params(kind, params)
        except _ParamError as exc:
            sub = f"{keypath}.{exc.key}" if exc.key else keypath
            raise self.fail(where if exc.key in params else parent, exc.key or kind, sub, str(exc)) from None
        return Expectation(kind, column, params, source=f"{self.path}:{line}" if line else self.path)


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

