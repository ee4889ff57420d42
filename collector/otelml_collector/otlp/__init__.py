"""The wire room: everything that reads or writes OTLP bytes.

Decoding (protobuf and OTLP/JSON) and validation for partial success (`decode`), the protobuf
wire primitives (`wire`: one varint reader, one field skip), the optional C accelerator
(`fastscan`: the receiver's validation walk and the inference-span scan), and span tagging by byte
offset (`splice`). Import rule: this package imports protobuf/OpenTelemetry proto modules and
itself only — never the pipeline, the receivers, the processors or `otelml`.
"""

from __future__ import annotations

from otelml_collector.otlp.cells import count_cells
from otelml_collector.otlp.codec import (
    Decoded,
    InvalidRequest,
    RequestTooManyCells,
    count_items,
    decode,
    decode_checked,
    response,
    to_json,
)
from otelml_collector.otlp.fastscan import HAVE_FAST_SCAN, check_traces
from otelml_collector.otlp.signals import (
    GRPC_METHODS,
    GRPC_PATHS,
    HTTP_PATHS,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Signal,
)
from otelml_collector.otlp.splice import tag_spans
from otelml_collector.otlp.wire import span_offsets

__all__ = [
    "GRPC_METHODS",
    "GRPC_PATHS",
    "HAVE_FAST_SCAN",
    "HTTP_PATHS",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "Decoded",
    "InvalidRequest",
    "RequestTooManyCells",
    "Signal",
    "check_traces",
    "count_cells",
    "count_items",
    "decode",
    "decode_checked",
    "response",
    "span_offsets",
    "tag_spans",
    "to_json",
]
