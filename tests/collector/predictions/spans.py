"""Build OTLP trace requests like the instrumented services send (helpers for the store tests)."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from otelml_collector.pipeline import Signal, TelemetryRequest

T0 = 1_780_000_000_000_000_000


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=float(value)))


def span(
    trace_id: bytes,
    name: str,
    attrs: dict[str, Any],
    parent: bytes = b"",
    start: int = T0,
    kind: int = 1,
    span_id: bytes | None = None,
) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id or os.urandom(8),
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 1_000_000,
        "attributes": attrs,
    }


def request(service: str, spans: list[dict[str, Any]]) -> TelemetryRequest:
    message = ExportTraceServiceRequest()
    rs = message.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for s in spans:
        out = ss.spans.add(**{k: v for k, v in s.items() if k != "attributes"})
        out.attributes.extend(kv(k, v) for k, v in s["attributes"].items())
    raw = message.SerializeToString()
    return TelemetryRequest(Signal.TRACES, raw, items=len(spans))


def inference(
    trace_id: bytes,
    pid: str,
    features: dict[str, Any],
    value: Any = 1,
    score: float = 0.8,
    model: str = "credit",
    version: str = "1",
    start: int = T0,
    parent: bytes = b"",
) -> dict[str, Any]:
    attrs = {
        "ml.operation.name": "inference",
        "ml.prediction.id": pid,
        "ml.model.name": model,
        "ml.model.version": version,
        "ml.prediction.value": value,
        "ml.prediction.score": score,
        **{f"ml.feature.{k}": v for k, v in features.items()},
    }
    return span(trace_id, f"inference {model}", attrs, parent=parent, start=start)


def label(pid: str, value: Any, model: str = "credit", start: int = T0 + 3_600_000_000_000) -> dict[str, Any]:
    attrs = {
        "ml.operation.name": "label",
        "ml.prediction.id": pid,
        "ml.model.name": model,
        "ml.label.value": value,
    }
    return span(os.urandom(16), f"label {model}", attrs, start=start)
