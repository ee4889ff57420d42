"""OTLP/JSON decoding: the receiver's descriptor-driven parser gives exactly the message that
protobuf's own `json_format.ParseDict` gives (the reference), on requests using every OTLP value kind,
and names the field when the JSON does not fit."""

from __future__ import annotations

import base64
import json
import random

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from otelml_collector import otlp
from otelml_collector.pipeline import Signal

ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def any_value(rng: random.Random, depth: int = 0) -> AnyValue:
    kind = rng.choice(["s", "b", "i", "d", "bytes"] + (["arr", "kv"] if depth < 2 else []))
    if kind == "s":
        return AnyValue(string_value=rng.choice(["", "eu", "ünï", 'a"b']))
    if kind == "b":
        return AnyValue(bool_value=rng.random() < 0.5)
    if kind == "i":
        return AnyValue(int_value=rng.choice([0, -1, 2**62, rng.randint(-1000, 1000)]))
    if kind == "d":
        return AnyValue(double_value=rng.choice([0.5, -1e300, 3.0, float("inf")]))
    if kind == "bytes":
        return AnyValue(bytes_value=rng.randbytes(rng.randint(0, 5)))
    if kind == "arr":
        value = AnyValue()
        value.array_value.values.extend(any_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
        return value
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=f"k{i}", value=any_value(rng, depth + 1)) for i in range(2))
    return value


def attributes(rng: random.Random) -> list[KeyValue]:
    return [KeyValue(key=f"ml.feature.f{i}", value=any_value(rng)) for i in range(rng.randint(0, 6))]


def traces(rng: random.Random) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.21.0")
    rs.resource.attributes.extend(attributes(rng))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "otelml", "0.1"
    for i in range(rng.randint(1, 8)):
        span = ss.spans.add(
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
            name=f"inference m{i}",
            kind=rng.randint(0, 5),
            start_time_unix_nano=rng.getrandbits(63),
            end_time_unix_nano=rng.getrandbits(63),
            flags=rng.getrandbits(32),
        )
        if rng.random() < 0.5:
            span.parent_span_id = rng.randbytes(8)
        span.attributes.extend(attributes(rng))
        span.events.add(name="ev", time_unix_nano=5).attributes.extend(attributes(rng))
        span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
        span.status.code, span.status.message = rng.randint(0, 2), "st"
    return req


def metrics(rng: random.Random) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    gauge = sm.metrics.add(name="ml.feature.drift", unit="1")
    point = gauge.gauge.data_points.add(as_double=rng.random(), time_unix_nano=7)
    point.attributes.extend(attributes(rng))
    point.exemplars.add(as_double=0.5, trace_id=rng.randbytes(16), span_id=rng.randbytes(8), time_unix_nano=8)
    total = sm.metrics.add(name="c")
    total.sum.aggregation_temporality, total.sum.is_monotonic = 2, True
    total.sum.data_points.add(as_int=rng.getrandbits(62))
    hist = sm.metrics.add(name="h").histogram
    hist.data_points.add(
        count=3, sum=1.5, bucket_counts=[1, 2, 0], explicit_bounds=[0.5, 1.0], min=0.1, max=2.0
    )
    return req


def logs(rng: random.Random) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for _ in range(rng.randint(1, 4)):
        record = sl.log_records.add(
            severity_number=13,
            severity_text="WARN",
            time_unix_nano=9,
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
        )
        record.body.CopyFrom(any_value(rng))
        record.attributes.extend(attributes(rng))
    return req


def otlp_json(message) -> bytes:
    """OTLP/JSON as a sender produces it: protobuf JSON mapping with hex ids."""
    doc = json_format.MessageToDict(message)

    def hexify(node):
        if isinstance(node, dict):
            for key, value in node.items():
                node[key] = base64.b64decode(value).hex() if key in ID_KEYS else hexify(value)
        elif isinstance(node, list):
            return [hexify(v) for v in node]
        return node

    return json.dumps(hexify(doc)).encode()


def reference(cls, body: bytes):
    """protobuf's own parser, after turning the hex ids back into the base64 it expects."""
    doc = json.loads(body)

    def b64(node):
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode() if k in ID_KEYS else b64(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [b64(v) for v in node]
        return node

    return json_format.ParseDict(b64(doc), cls(), ignore_unknown_fields=True)


@pytest.mark.parametrize("seed", range(30))
def test_matches_protobuf_json_format(seed):
    rng = random.Random(seed)
    for signal, build in ((Signal.TRACES, traces), (Signal.METRICS, metrics), (Signal.LOGS, logs)):
        original = build(rng)
        body = otlp_json(original)
        decoded = otlp.decode(signal, body, json_body=True).message
        assert decoded == reference(type(original), body)
        assert decoded == original


def test_lenient_where_the_spec_allows():
    body = json.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "trace_id": "0af7651916cd43dd8448eb211c80319c",
                                    "span_id": "b7ad6b7169203331",  # proto names
                                    "name": "x",
                                    "kind": "SPAN_KIND_CLIENT",
                                    "startTimeUnixNano": 5,  # enum name, int64 as number
                                    "futureField": {"nested": [1, 2]},
                                    "status": None,
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()
    span = otlp.decode(Signal.TRACES, body, json_body=True).message.resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id.hex(), span.span_id.hex(), span.kind, span.start_time_unix_nano) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        3,
        5,
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"resourceSpans": {"a": 1}}, "resourceSpans: expected a JSON array"),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]},
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got 5",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]},
            "spans[0].traceId: expected a hex string, got 'xyz'",
        ),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 2**40}]}]}]}, "spans[0].kind:"),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]},
            "startTimeUnixNano: expected an integer, got 'soon'",
        ),
    ],
)
def test_errors_name_the_field(doc, message):
    with pytest.raises(otlp.InvalidRequest) as err:
        otlp.decode(Signal.TRACES, json.dumps(doc).encode(), json_body=True)
    assert message in str(err.value)
