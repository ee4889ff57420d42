"""Scan a traces request for inference spans: the reference semantics and the C fast path.

`scan(raw)` returns a `Scan`: one row per inference span (`SPAN_DTYPE`), one row per `ml.*` value
("cell", `CELL_DTYPE`; an array attribute gives one cell per element) and the distinct strings the
cells refer to. `assemble` turns a `Scan` into `ModelBatch`es.

Two implementations, one semantics: `scan_message` walks a decoded protobuf message and *defines*
the rules below; `otelml_collector.otlp.fastscan` (C, built by `pip install -e .` when a compiler is
present) reads the wire format directly, ~20x faster, and must agree with it on every request (see
tests/collector/test_extraction_equivalence.py). The rules:

- a span is an inference span if `ml.operation.name == "inference"` or its name starts with
  "inference "; its model is `ml.model.name` (a string), else the rest of a name "inference <model>";
- for repeated attribute keys the last occurrence wins (`ml.model.name`, `ml.operation.name`, ...);
- `ml.feature.<name>`, `ml.prediction.value`, `ml.prediction.score`, `ml.segment.<key>` give cells;
  an array gives one cell per element (row = index) and the span has as many rows as its longest
  array (1 when it has none); a scalar cell has row -1 (it applies to every row of its span);
- values that are bytes, key-value lists, nested arrays or empty have kind `KIND_NONE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelml.semconv import (
    ML_FEATURE_PREFIX,
    ML_MODEL_NAME,
    ML_MODEL_VERSION,
    ML_OPERATION_NAME,
    ML_PREDICTION_ID,
    ML_PREDICTION_SCORE,
    ML_PREDICTION_VALUE,
    ML_SEGMENT_PREFIX,
    OPERATION_INFERENCE,
)
from otelml_collector.otlp import HAVE_FAST_SCAN, fastscan, span_offsets

__all__ = [
    "CELL_DTYPE",
    "HAVE_FAST_SCAN",
    "KIND_BOOL",
    "KIND_DOUBLE",
    "KIND_INT",
    "KIND_NONE",
    "KIND_STR",
    "ROLE_FEATURE",
    "ROLE_PRED_SCORE",
    "ROLE_PRED_VALUE",
    "ROLE_SEGMENT",
    "SPAN_DTYPE",
    "Scan",
    "scan",
    "scan_fast",
    "scan_message",
    "scan_reference",
]


KIND_NONE, KIND_STR, KIND_BOOL, KIND_INT, KIND_DOUBLE = 0, 1, 2, 3, 4
ROLE_FEATURE, ROLE_PRED_VALUE, ROLE_PRED_SCORE, ROLE_SEGMENT = 0, 1, 2, 3

SPAN_DTYPE = np.dtype(
    [
        ("trace_id", "u1", (16,)),
        ("span_id", "u1", (8,)),
        ("end_time", "=u8"),
        ("model", "=i4"),  # index into strings, -1 = none
        ("version", "=i4"),
        ("pid", "=i4"),
        ("nrows", "=i4"),
        ("offset", "=i8"),  # of the span's field tag in the raw request, -1 = unknown
    ]
)
CELL_DTYPE = np.dtype(
    [
        ("span", "=i4"),  # index into spans
        ("key", "=i4"),  # feature name / segment key (index into strings); -1 for the prediction
        ("row", "=i4"),  # array index, -1 = scalar
        ("role", "=i2"),
        ("kind", "=i2"),
        ("str", "=i4"),  # string value (index into strings), -1 unless kind == KIND_STR
        ("pad", "=i4"),
        ("inum", "=i8"),  # bool / int value
        ("dnum", "=f8"),  # double value
    ]
)
assert SPAN_DTYPE.itemsize == 56 and CELL_DTYPE.itemsize == 40  # the C struct layout

_FEATURE_LEN = len(ML_FEATURE_PREFIX)
_SEGMENT_LEN = len(ML_SEGMENT_PREFIX)
_NAME_PREFIX = OPERATION_INFERENCE + " "


@dataclass
class Scan:
    spans: np.ndarray  # SPAN_DTYPE
    cells: np.ndarray  # CELL_DTYPE
    strings: list[str]


def scan_fast(raw: bytes | memoryview) -> Scan:
    """The C path; raises `ValueError` on malformed input or `RuntimeError` if it was not built."""
    spans, cells, strings = fastscan.scan_spans(raw)
    return Scan(np.frombuffer(spans, SPAN_DTYPE), np.frombuffer(cells, CELL_DTYPE), strings)


def scan_reference(raw: bytes | memoryview) -> Scan:
    """Decode with protobuf and walk; raises `google.protobuf.message.DecodeError` on bad input."""
    raw = bytes(raw)
    result = _scan_message(ExportTraceServiceRequest.FromString(raw))
    offsets = span_offsets(raw)
    if offsets is not None and len(result.spans):
        result.spans["offset"] = np.asarray(offsets, dtype=np.int64)[result.spans["offset"]]
    else:
        result.spans["offset"] = -1
    return result


def scan(raw: bytes | memoryview) -> Scan:
    """Fast path when built; the reference path when not, or when the fast one rejects the bytes
    (e.g. protobuf groups, which it does not read)."""
    if HAVE_FAST_SCAN:
        try:
            return scan_fast(raw)
        except ValueError:
            pass
    return scan_reference(raw)


def _value(any_value: Any) -> tuple[int, Any]:
    which = any_value.WhichOneof("value")
    if which == "string_value":
        return KIND_STR, any_value.string_value
    if which == "bool_value":
        return KIND_BOOL, any_value.bool_value
    if which == "int_value":
        return KIND_INT, any_value.int_value
    if which == "double_value":
        return KIND_DOUBLE, any_value.double_value
    if which == "array_value":
        return -1, any_value.array_value
    return KIND_NONE, None


class _Builder:
    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}
        self.spans: list[tuple[Any, ...]] = []
        self.cells: list[tuple[Any, ...]] = []
        self.seen = 0  # spans walked so far, inference or not

    def intern(self, s: str) -> int:
        idx = self._index.get(s)
        if idx is None:
            idx = self._index[s] = len(self.strings)
            self.strings.append(s)
        return idx

    def cell(self, role: int, key: int, row: int, kind: int, value: Any) -> None:
        string = self.intern(value) if kind == KIND_STR else -1
        inum = int(value) if kind in (KIND_BOOL, KIND_INT) else 0
        dnum = float(value) if kind == KIND_DOUBLE else 0.0
        self.cells.append((len(self.spans), key, row, role, kind, string, 0, inum, dnum))

    def string_ref(self, any_value: Any) -> int:
        kind, value = _value(any_value)
        return self.intern(value) if kind == KIND_STR else -1

    def span(self, span: Any) -> None:
        self.seen += 1
        cells_before = len(self.cells)
        inference_attr = False
        model = version = pid = -1
        has_array, maxlen = False, 0
        for kv in span.attributes:
            key = kv.key
            if not key.startswith("ml."):
                continue
            if key == ML_OPERATION_NAME:
                kind, value = _value(kv.value)
                inference_attr = kind == KIND_STR and value == OPERATION_INFERENCE
                continue
            if key == ML_MODEL_NAME:
                model = self.string_ref(kv.value)
                continue
            if key == ML_MODEL_VERSION:
                version = self.string_ref(kv.value)
                continue
            if key == ML_PREDICTION_ID:
                pid = self.string_ref(kv.value)
                continue
            keyref = -1
            if key == ML_PREDICTION_VALUE:
                role = ROLE_PRED_VALUE
            elif key == ML_PREDICTION_SCORE:
                role = ROLE_PRED_SCORE
            elif key.startswith(ML_FEATURE_PREFIX) and len(key) > _FEATURE_LEN:
                role, keyref = ROLE_FEATURE, self.intern(key[_FEATURE_LEN:])
            elif key.startswith(ML_SEGMENT_PREFIX) and len(key) > _SEGMENT_LEN:
                role, keyref = ROLE_SEGMENT, self.intern(key[_SEGMENT_LEN:])
            else:
                continue
            kind, value = _value(kv.value)
            if kind != -1:
                self.cell(role, keyref, -1, kind, value)
                continue
            has_array = True
            for row, element in enumerate(value.values):
                ekind, evalue = _value(element)
                self.cell(role, keyref, row, KIND_NONE if ekind == -1 else ekind, evalue)
            maxlen = max(maxlen, len(value.values))
        named = span.name.startswith(_NAME_PREFIX)
        if not (inference_attr or named):
            del self.cells[cells_before:]
            return
        if model < 0 and named and len(span.name) > len(_NAME_PREFIX):
            model = self.intern(span.name[len(_NAME_PREFIX) :])
        self.spans.append(
            (
                np.frombuffer(span.trace_id[:16].ljust(16, b"\0"), np.uint8),
                np.frombuffer(span.span_id[:8].ljust(8, b"\0"), np.uint8),
                span.end_time_unix_nano,
                model,
                version,
                pid,
                maxlen if has_array else 1,
                self.seen - 1,  # request-order index; scan_reference turns it into a byte offset
            )
        )


def scan_message(message: ExportTraceServiceRequest) -> Scan:
    """The reference semantics (module docstring) on a decoded request (span offsets unknown: -1)."""
    result = _scan_message(message)
    result.spans["offset"] = -1
    return result


def _scan_message(message: ExportTraceServiceRequest) -> Scan:
    """As `scan_message`, with each span's request-order index in `offset`."""
    builder = _Builder()
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                builder.span(span)
    return Scan(
        np.array(builder.spans, dtype=SPAN_DTYPE),
        np.array(builder.cells, dtype=CELL_DTYPE),
        builder.strings,
    )
