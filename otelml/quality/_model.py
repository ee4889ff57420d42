"""Expectations and their results: the plain data the loader builds and the checks produce."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Example", "Expectation", "ExpectationResult", "Result"]

TABLE = "__table__"
"""Pseudo column name of table-level expectations (row_count)."""


@dataclass(frozen=True)
class Expectation:
    """One check: `kind` (e.g. "between"), the column it applies to (None for table checks), its
    validated parameters, and where it came from (`source` is "file:line" for messages)."""

    kind: str
    column: str | None
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    ge_type: str | None = None  # the Great Expectations type it was read from, if any

    @property
    def label(self) -> str:
        """Short human name, e.g. "age: between"."""
        return f"{self.column}: {self.kind}" if self.column else self.kind


@dataclass(frozen=True)
class Example:
    """An unexpected value and the row it sits in (the data's index label, 0-based for files)."""

    row: Any
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"row": _jsonable(self.row), "value": _jsonable(self.value)}


@dataclass
class ExpectationResult:
    expectation: Expectation
    success: bool
    observed_value: Any = None
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    unexpected_percent: float = 0.0
    examples: list[Example] = field(default_factory=list)
    message: str = ""  # why it failed when no value explains it (missing column, unsupported type)
    # Positions (0..n-1) of every unexpected row, for callers that map rows back to predictions.
    unexpected_positions: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        exp = self.expectation
        out: dict[str, Any] = {
            "expectation": exp.kind,
            "column": exp.column,
            "params": {k: _jsonable(v) for k, v in exp.params.items()},
            "success": self.success,
            "observed_value": _jsonable(self.observed_value),
            "element_count": self.element_count,
            "missing_count": self.missing_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": round(self.unexpected_percent, 6),
            "unexpected_examples": [e.to_dict() for e in self.examples],
        }
        if exp.source:
            out["source"] = exp.source
        if exp.ge_type:
            out["ge_type"] = exp.ge_type
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class Result:
    """Outcome of validating one table against a list of expectations."""

    results: list[ExpectationResult]
    row_count: int = 0
    columns: list[str] = field(default_factory=list)
    data: str | None = None  # file validated, when known
    expectations_source: str | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    @property
    def statistics(self) -> dict[str, int]:
        n_ok = sum(r.success for r in self.results)
        return {"evaluated": len(self.results), "successful": n_ok, "unsuccessful": len(self.results) - n_ok}

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "data": self.data,
            "expectations": self.expectations_source,
            "row_count": self.row_count,
            "statistics": self.statistics,
            "results": [r.to_dict() for r in self.results],
        }

    def __bool__(self) -> bool:
        return self.success


def _jsonable(value: Any) -> Any:
    """Numpy/pandas scalars and containers -> plain JSON values (NaN/inf -> None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
