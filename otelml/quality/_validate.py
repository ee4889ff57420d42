"""`validate(df, expectations, baseline=None) -> Result` and reading data files."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from otelml.quality._checks import CheckContext, run_check
from otelml.quality._errors import DataFileError, QualityError
from otelml.quality._loader import load_expectations, parse_expectations
from otelml.quality._model import Expectation, Result
from otelml.tabular import TableFileError, read_table

__all__ = ["read_data", "resolve_expectations", "validate"]

ExpectationsLike = str | Path | Mapping[str, Any] | Sequence[Expectation]


def resolve_expectations(expectations: ExpectationsLike) -> tuple[list[Expectation], str | None]:
    """A path, an already-parsed document (otelml format or GE suite) or a list of `Expectation`s."""
    if isinstance(expectations, str | Path):
        return load_expectations(expectations), str(expectations)
    if isinstance(expectations, Mapping):
        return parse_expectations(expectations, "<expectations>"), None
    items = list(expectations)
    for item in items:
        if not isinstance(item, Expectation):
            raise TypeError(f"expectations must be a path, a mapping or Expectation objects, got {item!r}")
    return items, None


def validate(
    df: pd.DataFrame,
    expectations: ExpectationsLike,
    baseline: Any = None,
    *,
    now: float | None = None,
    max_examples: int = 5,
) -> Result:
    """Check `df` against `expectations`; `baseline` (a path or a loaded otelml baseline) is needed by
    `drift` expectations. Raises `QualityError` on invalid input (never on failing data); returns a
    `Result` whose `.success` is the gate's verdict."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate() needs a pandas DataFrame, got {type(df).__name__}")
    exps, source = resolve_expectations(expectations)
    if baseline is not None and isinstance(baseline, str | Path):
        from otelml.quality._drift import load_baseline_file

        baseline = load_baseline_file(baseline)
    if baseline is None:
        needing = [e for e in exps if e.kind == "drift"]
        if needing:
            raise QualityError(f"{needing[0].source}: {needing[0].label} needs a baseline; pass --baseline "
                               "FILE (built with `otelml baseline build`) or baseline= to validate()")
    ctx = CheckContext(baseline=baseline, now=time.time() if now is None else now, max_examples=max_examples)
    results = [run_check(e, df, ctx) for e in exps]
    return Result(results, row_count=len(df), columns=[str(c) for c in df.columns],
                  expectations_source=source)


def read_data(path: str | Path, *, delimiter: str | None = None) -> pd.DataFrame:
    """Read the data to validate with the one tabular reader (`otelml.tabular.read_table`)."""
    try:
        return read_table(path, delimiter=delimiter)
    except TableFileError as exc:
        raise DataFileError(str(exc)) from None
