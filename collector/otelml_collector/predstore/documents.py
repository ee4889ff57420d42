"""Stored spans as the HTTP API's JSON documents (the SPAN shape of docs/predictions.md).

A chunk body is a serialized `ExportTraceServiceRequest` holding spans exactly as received
(attributes, resource and scope untouched); these helpers decode one and turn its spans into
`{"trace_id", "span_id", "parent_span_id", "name", "service", "kind", "start_time_unix_nano",
"end_time_unix_nano", "status", "attributes"}` dicts. Ids are lowercase hex.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["any_value", "attributes_of", "span_document", "spans_of_traces"]

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as plain JSON-able Python (arrays -> lists, kvlists -> dicts, bytes -> hex)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes_of(span: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in span.attributes}


def _service(resource: Any) -> str:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return str(any_value(kv.value))
    return ""


def span_document(span: Any, service: str) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() or None,
        "name": span.name,
        "service": service,
        "kind": _KINDS.get(span.kind, str(span.kind)),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "status": {
            "code": _STATUS.get(span.status.code, str(span.status.code)),
            "message": span.status.message,
        },
        "attributes": attributes_of(span),
    }


def iter_spans(body: bytes) -> Iterator[tuple[Any, str]]:
    """(span, service name) for every span of a chunk body."""
    message = ExportTraceServiceRequest.FromString(body)
    for rs in message.resource_spans:
        service = _service(rs.resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield span, service


def spans_of_traces(bodies: list[bytes], trace_ids: set[bytes]) -> list[dict[str, Any]]:
    """Documents of the spans of `trace_ids` in the chunk bodies, deduplicated by (trace, span id) and
    sorted by start time. Byte-identical bodies (an exporter's retry of the same request) are decoded once."""
    seen: dict[tuple[bytes, bytes], dict[str, Any]] = {}
    for body in dict.fromkeys(bodies):
        for span, service in iter_spans(body):
            if span.trace_id in trace_ids:
                seen.setdefault((span.trace_id, span.span_id), span_document(span, service))
    return sorted(seen.values(), key=lambda s: (s["start_time_unix_nano"], s["end_time_unix_nano"]))
