"""One `ModelBatch` column from the cells of one (role, key): types, validity, caps.

Shared by every assembly path of `assemble` (see its docstring for the rules).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otelml_collector.processors.extract.scan import (
    KIND_BOOL,
    KIND_INT,
    KIND_STR,
    ROLE_FEATURE,
    ROLE_PRED_SCORE,
    ROLE_PRED_VALUE,
    ROLE_SEGMENT,
)
from otelml_collector.records import ModelBatch

__all__ = [
    "OTHER",
    "PREDICTION_SCORE",
    "PREDICTION_VALUE",
    "Caps",
    "ModelSchema",
    "Outcome",
    "Part",
    "column",
]

OTHER = "__other__"
"""Value of a categorical cell whose category did not fit under `max_categories_per_feature`."""
PREDICTION_VALUE = "ml.prediction.value"
PREDICTION_SCORE = "ml.prediction.score"
SEGMENT_PREFIX = "ml.segment."

_NUMERIC, _CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True)
class Caps:
    max_models: int = 100
    max_features_per_model: int = 500
    max_categories_per_feature: int = 1000
    max_string_bytes: int = 256


@dataclass
class ModelSchema:
    kinds: dict[str, str] = field(default_factory=dict)  # feature / "ml.segment.k" / prediction -> kind
    categories: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Outcome:
    batches: list[ModelBatch]
    spans: int = 0
    rows: int = 0
    dropped_no_model: int = 0
    # "models" | "features" | "categories" | "strings" -> values refused, mapped to OTHER or truncated
    capped: Counter[str] = field(default_factory=Counter)


class Part:
    """The cells of one column, in row order, read lazily from per-field arrays: either the column's
    own index into all cells, or row `c` of (columns x rows) matrices. `filled` = numbers with NaN
    where not valid; `bad_num` / `bad_str` = cells that are not valid numbers / strings."""

    FROM_CELLS = ("inum", "kind", "num_ok", "number", "str", "str_ok")
    __slots__ = ("_c", "_src")

    def __init__(self, src: dict[str, np.ndarray], c: int | np.ndarray | slice) -> None:
        self._src, self._c = src, c

    def __getattr__(self, name: str) -> Any:
        src = self._src
        if name == "filled":
            if "filled" in src:
                return src["filled"][self._c]
            return np.where(self.num_ok, self.number, np.nan)
        if name in ("bad_num", "bad_str"):
            if name in src:
                return int(src[name][self._c])
            ok = self.num_ok if name == "bad_num" else self.str_ok
            return len(ok) - int(np.count_nonzero(ok))
        return src[name][self._c]


def column(
    batch: ModelBatch,
    n: int,
    role: int,
    key: int,
    part: Part,
    rows: np.ndarray | None,
    strings: np.ndarray,
    model_schema: ModelSchema,
    caps: Caps,
    out: Outcome,
) -> None:
    """One column of `batch` from the cells of one (role, key) at strictly increasing `rows`
    (None: rows == arange(n))."""
    count = n if rows is None else len(rows)
    if role == ROLE_FEATURE:
        name = strings[key]
    elif role == ROLE_SEGMENT:
        name = SEGMENT_PREFIX + strings[key]
    else:
        name = PREDICTION_VALUE if role == ROLE_PRED_VALUE else PREDICTION_SCORE
    kind = model_schema.kinds.get(name)
    if kind is None:
        kind = _first_kind(part, role)
        if kind is None:  # nothing valid yet: the type stays open
            batch.invalid[name] = count
            return
        if role in (ROLE_FEATURE, ROLE_SEGMENT):
            features = sum(1 for k in model_schema.kinds if k not in (PREDICTION_VALUE, PREDICTION_SCORE))
            if features >= caps.max_features_per_model:
                out.capped["features"] += count
                return
        model_schema.kinds[name] = kind
    dense = rows is None or count == n  # strictly increasing rows, one per batch row: rows == arange(n)
    if kind == _NUMERIC:
        valid = part.num_ok
        if dense:
            column = part.filled
        else:
            assert rows is not None
            column = np.full(n, np.nan)
            column[rows[valid]] = part.number[valid]
    else:
        if role == ROLE_SEGMENT:
            values, valid = _segment_values(part, strings)
        else:
            valid = part.str_ok
            values = strings[part.str]  # None where the cell is not a string
        values = _cap_categories(values, valid, model_schema, name, caps, out)
        if dense:
            column = values
        else:
            assert rows is not None
            column = np.full(n, None, dtype=object)
            column[rows[valid]] = values[valid]
    bad = part.bad_num if kind == _NUMERIC and role != ROLE_SEGMENT else count - int(np.count_nonzero(valid))
    if bad:
        batch.invalid[name] = bad
    if role == ROLE_FEATURE:
        (batch.numeric if kind == _NUMERIC else batch.categorical)[name] = column
    elif role == ROLE_SEGMENT:
        batch.segments[name[len(SEGMENT_PREFIX) :]] = column
    elif role == ROLE_PRED_VALUE:
        batch.prediction_value = column
    else:
        batch.prediction_score = column


def _first_kind(part: Part, role: int) -> str | None:
    if role == ROLE_SEGMENT:
        return _CATEGORICAL
    valid = part.num_ok
    is_str = part.str_ok
    if role != ROLE_PRED_SCORE:
        valid = valid | is_str
    first = np.flatnonzero(valid)
    if len(first) == 0:
        return None
    return _CATEGORICAL if is_str[first[0]] else _NUMERIC


def _segment_values(part: Part, strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kind = part.kind
    values = strings[part.str]
    numeric = (kind == KIND_BOOL) | (kind == KIND_INT)
    inum = part.inum
    for i in np.flatnonzero(numeric):
        value = int(inum[i])
        values[i] = ("true" if value else "false") if kind[i] == KIND_BOOL else str(value)
    return values, numeric | (kind == KIND_STR)


def _cap_categories(
    values: np.ndarray, valid: np.ndarray, model_schema: ModelSchema, name: str, caps: Caps, out: Outcome
) -> np.ndarray:
    """`values` (invalid ones None) with categories beyond the cap replaced by OTHER; new categories
    are admitted in order of first appearance."""
    known = model_schema.categories.setdefault(name, set())
    candidates = values[valid]
    if len(candidates) == 0:
        return values
    # Python's hash-based dict dedup beats sorting strings with np.unique here.
    first_seen = dict.fromkeys(candidates.tolist())
    refused = set()
    for value in first_seen:
        if value in known:
            continue
        if len(known) < caps.max_categories_per_feature:
            known.add(value)
        else:
            refused.add(value)
    if not refused:
        if not valid.all():
            values = values.copy()
            values[~valid] = None
        return values
    result = np.array(
        [
            OTHER if (ok and v in refused) else (v if ok else None)
            for v, ok in zip(values, valid, strict=True)
        ],
        dtype=object,
    )
    out.capped["categories"] += sum(1 for v in candidates if v in refused)
    return result
