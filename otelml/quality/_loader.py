"""Read expectation files: otelml's YAML format (documented in docs/quality.md) or a Great Expectations
suite (JSON), into a flat list of validated `Expectation`s. Every problem raises
`ExpectationFileError` naming the file, the line and the key path (e.g. `columns.age.between.min`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otelml.quality._errors import ExpectationFileError
from otelml.quality._model import Expectation
from otelml.quality._params import TYPES, _check_params, _ParamError
from otelml.quality._yaml import line_of, load_yaml

__all__ = ["COLUMN_KINDS", "TABLE_KINDS", "TYPES", "load_expectations", "parse_expectations"]

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
