"""Turn a `Scan` of inference spans into columnar `ModelBatch`es under bounded state.

Rules (shared by the fast and the reference scan, so both give identical batches):

- one batch per (model, version), in order of first appearance; spans without a model are dropped
  and counted;
- a span gives `nrows` rows; a scalar value applies to every row of its span, an array element to
  its row; rows an attribute does not cover are missing (NaN / None);
- a feature's type is fixed by the first valid value seen for it (per model): a string makes it
  categorical, a bool/int/double numeric. Values of the other type, non-finite numbers, and
  bytes/maps/nested arrays/empty values are missing and counted in `invalid[feature]`
  (`invalid["ml.prediction.value"]`, `["ml.prediction.score"]`, `["ml.segment.<key>"]` likewise);
- segments are strings; bool and int values are written as "true"/"false" and decimal;
- caps: `max_models` (model, version) pairs, `max_features_per_model` features + segment keys,
  `max_categories_per_feature` distinct values per categorical feature/segment/prediction (others
  become `OTHER`), `max_string_bytes` per string (longer ones are cut at a character boundary). What a
  cap refuses or cuts is counted in `Outcome.capped`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from otelml_collector.processors.extract.columns import (
    OTHER,
    PREDICTION_SCORE,
    PREDICTION_VALUE,
    Caps,
    ModelSchema,
    Outcome,
    Part,
    column,
)
from otelml_collector.processors.extract.scan import (
    KIND_BOOL,
    KIND_DOUBLE,
    KIND_INT,
    KIND_STR,
    Scan,
)
from otelml_collector.records import ModelBatch, ModelKey

__all__ = ["OTHER", "PREDICTION_SCORE", "PREDICTION_VALUE", "Caps", "Outcome", "Schema", "assemble"]


class Schema:
    """What the extractor has learnt so far, bounded by `Caps`: models, their features' types and
    categories. Not thread-safe: callers serialise `assemble`."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.models: dict[ModelKey, ModelSchema] = {}


def assemble(scan: Scan, schema: Schema) -> Outcome:
    out = Outcome([])
    spans, cells = scan.spans, scan.cells
    if len(spans) == 0:
        return out
    strings = np.array([*scan.strings, None], dtype=object)  # index -1 -> None
    long = _truncate_long(strings, schema.caps.max_string_bytes)
    if len(long):
        out.capped["strings"] += int(np.isin(cells["str"], long).sum()) or len(long)
    has_model = spans["model"] >= 0
    out.dropped_no_model = int((~has_model).sum())
    group_key = (spans["model"].astype(np.int64) << 32) | (spans["version"].astype(np.int64) & 0xFFFFFFFF)
    group_key[~has_model] = -1
    uniq, first, inverse = np.unique(group_key, return_index=True, return_inverse=True)
    nrows = spans["nrows"].astype(np.int64)
    cache: list[_Cells] = []

    def columns() -> _Cells:  # built on first need: uniform requests never need it
        if not cache:
            cache.append(_Cells.of(cells))
        return cache[0]

    for g in np.argsort(first, kind="stable"):
        if uniq[g] < 0:
            continue
        span_idx = np.flatnonzero(inverse == g)
        model = strings[spans["model"][span_idx[0]]]
        version = strings[spans["version"][span_idx[0]]] or ""
        model_schema = schema.models.get((model, version))
        if model_schema is None:
            if len(schema.models) >= schema.caps.max_models:
                out.capped["models"] += len(span_idx)
                continue
            model_schema = schema.models[(model, version)] = ModelSchema()
        batch = _batch(
            model, version, span_idx, spans, nrows, cells, columns, strings, model_schema, schema.caps, out
        )
        out.spans += len(span_idx)
        out.rows += len(batch)
        out.batches.append(batch)
    return out


def _truncate_long(strings: np.ndarray, limit: int) -> np.ndarray:
    """Cut strings longer than `limit` UTF-8 bytes (in place, at a character boundary) so that no
    value, name or category costs more than `limit` bytes downstream; returns their indices. One
    length per distinct string of the request, the encoding only for the few that may be long."""
    values = strings[:-1]
    chars = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    long = []
    for i in np.flatnonzero(chars > limit // 4):
        raw = values[i].encode("utf-8", "surrogatepass")
        if len(raw) > limit:
            strings[i] = raw[:limit].decode("utf-8", "ignore")
            long.append(i)
    return np.array(long, dtype=np.int64)


class _Cells:
    """The scan's cells as plain contiguous columns (fancy-indexing a packed structured array is ~50x
    slower), plus per-cell number / validity computed once for all columns."""

    __slots__ = ("inum", "key", "kind", "num_ok", "number", "role", "row", "span", "str", "str_ok")
    inum: np.ndarray
    key: np.ndarray
    kind: np.ndarray
    num_ok: np.ndarray
    number: np.ndarray
    role: np.ndarray
    row: np.ndarray
    span: np.ndarray
    str: np.ndarray
    str_ok: np.ndarray

    def __init__(self, columns: dict[builtins.str, np.ndarray]) -> None:
        for name in self.__slots__:
            setattr(self, name, columns[name])

    @classmethod
    def of(cls, cells: np.ndarray) -> _Cells:
        cols = {
            name: np.ascontiguousarray(cells[name]) for name in ("inum", "key", "kind", "role", "row", "span")
        }
        cols["str"] = np.ascontiguousarray(cells["str"])
        return cls(_derive(cols, cells["dnum"]))

    def __len__(self) -> int:
        return len(self.span)

    def take(self, index: np.ndarray) -> _Cells:
        return _Cells({name: getattr(self, name)[index] for name in self.__slots__})


def _derive(cols: dict[str, Any], dnum: np.ndarray) -> dict[str, Any]:
    """Add `number` (int/bool/double as float64), `num_ok` (a finite number), `str_ok` (a string)."""
    kind = cols["kind"]
    number = cols["inum"].astype(np.float64)
    np.copyto(number, dnum, where=kind == KIND_DOUBLE)
    cols["number"] = number
    cols["num_ok"] = ((kind == KIND_BOOL) | (kind == KIND_INT) | (kind == KIND_DOUBLE)) & np.isfinite(number)
    cols["str_ok"] = kind == KIND_STR
    return cols


def _finish_matrices(m: dict[str, Any]) -> dict[str, Any]:
    m["filled"] = np.where(m["num_ok"], m["number"], np.nan)
    n = m["num_ok"].shape[1]
    m["bad_num"] = n - np.count_nonzero(m["num_ok"], axis=1)
    m["bad_str"] = n - np.count_nonzero(m["str_ok"], axis=1)
    return m


def _matrices(
    cells: _Cells, index: np.ndarray | None, shape: tuple[int, int], transpose: bool
) -> dict[str, Any]:
    """Per-field (columns x rows) matrices of the cells (taken at `index`, or all), with NaN-filled
    numbers and per-column invalid counts computed once for all columns."""
    m: dict[str, Any] = {}
    for name in Part.FROM_CELLS:
        field = getattr(cells, name)
        field = field if index is None else field[index]
        m[name] = np.ascontiguousarray(field.reshape(shape).T) if transpose else field.reshape(shape)
    return _finish_matrices(m)


def _batch(
    model: str,
    version: str,
    span_idx: np.ndarray,
    spans: np.ndarray,
    nrows: np.ndarray,
    raw_cells: np.ndarray,
    columns: Callable[[], _Cells],
    strings: np.ndarray,
    model_schema: ModelSchema,
    caps: Caps,
    out: Outcome,
) -> ModelBatch:
    span_rows = nrows[span_idx]
    n = int(span_rows.sum())
    batch = ModelBatch(
        model=model,
        version=version,
        trace_id=np.repeat(spans["trace_id"][span_idx], span_rows, axis=0),
        span_id=np.repeat(spans["span_id"][span_idx], span_rows, axis=0),
        time_unix_nano=np.repeat(spans["end_time"][span_idx].astype(np.int64), span_rows),
        prediction_id=strings[np.repeat(spans["pid"][span_idx], span_rows)].tolist(),
    )
    offsets = spans["offset"][span_idx]
    if len(offsets) and offsets.min() >= 0:
        batch.span_offset = np.repeat(offsets, span_rows)
    if n == 0 or len(raw_cells) == 0:
        return batch
    everything = len(span_idx) == len(spans)
    one_row_each = bool((span_rows == 1).all())
    if everything and one_row_each and _uniform(batch, n, raw_cells, strings, model_schema, caps, out):
        return batch
    base = np.full(len(spans), -1, dtype=np.int64)  # first row of each span of this batch
    base[span_idx] = np.cumsum(span_rows) - span_rows
    all_cells = columns()
    cells = all_cells if everything else all_cells.take(np.flatnonzero(base[all_cells.span] >= 0))
    if len(cells) == 0:
        return batch
    if everything and one_row_each:  # span i is row i
        rows = cells.span.astype(np.int64)
    else:
        cells, rows = _cell_rows(cells, nrows, base)
        if len(cells) == 0:  # only scalars of spans with empty arrays (0 rows)
            return batch
    code = cells.role.astype(np.int64) * (len(strings) + 1) + cells.key + 1
    present = np.bincount(code).astype(bool)
    dense = (np.cumsum(present) - 1)[code]
    if int(present.sum()) <= np.iinfo(np.uint16).max:
        dense = dense.astype(np.uint16)  # numpy radix-sorts small integers when asked for a stable sort
    order = np.argsort(dense, kind="stable")
    rows, dense = rows[order], dense[order]
    same_column = np.diff(dense) == 0
    repeated = bool((same_column & (np.diff(rows) <= 0)).any())  # a key twice on one span
    bounds = np.flatnonzero(~same_column) + 1
    starts, stops = [0, *bounds.tolist()], [*bounds.tolist(), len(dense)]
    firsts = order[starts]
    roles, keys = cells.role[firsts].tolist(), cells.key[firsts].tolist()
    by_appearance = np.argsort(firsts, kind="stable").tolist()  # columns in order of first appearance
    if not repeated and len(dense) == n * len(starts):
        # Every column has one cell per row (rows == arange(n)): (columns x n) matrices.
        m = _matrices(cells, order, (len(starts), n), transpose=False)
        for c in by_appearance:
            column(batch, n, roles[c], keys[c], Part(m, c), None, strings, model_schema, caps, out)
        return batch
    src = {name: getattr(cells, name) for name in Part.FROM_CELLS}
    for c in by_appearance:
        start, stop = starts[c], stops[c]
        keep = _last_per_row(rows[start:stop]) + start if repeated else slice(start, stop)
        part = Part(src, order[keep])
        column(batch, n, roles[c], keys[c], part, rows[keep], strings, model_schema, caps, out)
    return batch


def _uniform(
    batch: ModelBatch,
    n: int,
    cells: np.ndarray,
    strings: np.ndarray,
    model_schema: ModelSchema,
    caps: Caps,
    out: Outcome,
) -> bool:
    """The usual request: every span (one row each) has the same ml.* keys in the same order. Then
    the cells are an (n x k) grid and need no sorting. False if the request is not like that."""
    k = len(cells) // n
    if k == 0 or k * n != len(cells) or k > 4096:
        return False
    roles, keys = cells["role"], cells["key"]
    code = roles.astype(np.int64) * (len(strings) + 1) + keys
    grid = code.reshape(n, k)
    if len(set(grid[0].tolist())) != k or not (grid == grid[0]).all() or (cells["row"] >= 0).any():
        return False
    # Straight from the packed cells to contiguous (k x n) matrices: one copy per field.
    m = {name: np.ascontiguousarray(cells[name].reshape(n, k).T) for name in ("inum", "kind", "str")}
    m = _finish_matrices(_derive(m, cells["dnum"].reshape(n, k).T))
    for c, (role, key) in enumerate(zip(roles[:k].tolist(), keys[:k].tolist(), strict=True)):
        column(batch, n, role, key, Part(m, c), None, strings, model_schema, caps, out)
    return True


def _cell_rows(cells: _Cells, nrows: np.ndarray, base: np.ndarray) -> tuple[_Cells, np.ndarray]:
    """The batch row of every cell; a scalar cell of a span with k != 1 rows becomes k cells (k rows)."""
    scalar = cells.row < 0
    span_rows = nrows[cells.span]
    if not (scalar & (span_rows != 1)).any():
        return cells, base[cells.span] + np.where(scalar, 0, cells.row)
    reps = np.where(scalar, span_rows, 1)
    index = np.repeat(np.arange(len(cells)), reps)
    offset = np.arange(len(index)) - np.repeat(np.cumsum(reps) - reps, reps)
    cells = cells.take(index)
    return cells, base[cells.span] + np.where(cells.row < 0, offset, cells.row)


def _last_per_row(rows: np.ndarray) -> np.ndarray:
    """Indices keeping only the last cell for each row (a key repeated on one span: last wins)."""
    _, last_rev = np.unique(rows[::-1], return_index=True)
    return np.sort(len(rows) - 1 - last_rev)
