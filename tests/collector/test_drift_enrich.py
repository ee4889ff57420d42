"""Forwarded inference spans gain `ml.drift.features` where a value lies outside the baseline.

Requests are real: spans from the OTel SDK, encoded by the SDK's OTLP encoder, extracted by the
`ml_extract` processor. The byte splice must decode to exactly what editing the decoded message gives.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otelml_collector.component import ComponentContext
from otelml_collector.otlp import splice
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.drift import DriftFactory
from otelml_collector.processors.drift.enrich import drift_attributes, tag_spans
from otelml_collector.processors.extract import MLExtractFactory
from otelml_collector.state import StateStore


def sdk_request(rows: list[dict[str, float]], model: str = "m") -> bytes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("svc")
    for row in rows:
        attrs = {"ml.operation.name": "inference", "ml.model.name": model, "ml.model.version": "1"}
        attrs.update({f"ml.feature.{k}": v for k, v in row.items()})
        with tracer.start_as_current_span(f"inference {model}", attributes=attrs):
            pass
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


@pytest.fixture
def pipeline():
    ctx = ComponentContext(
        name="drift",
        state=StateStore(":memory:"),
        meter_provider=MeterProvider(),
        logger_provider=LoggerProvider(),
        log=logging.getLogger("test.drift"),
    )
    ext = MLExtractFactory().create(MLExtractFactory().config_from_dict({}), ctx)
    factory = DriftFactory()
    drift = factory.create(
        factory.config_from_dict({"baseline": {"warmup": 500}, "window": {"size": 5000}}), ctx
    )
    ext.start()
    drift.start()

    def run(raw: bytes) -> TelemetryRequest:
        req = TelemetryRequest(signal=Signal.TRACES, raw=raw)
        return drift.process(ext.process(req))

    rng = np.random.default_rng(0)
    run(sdk_request([{"f0": float(a), "f1": float(b)} for a, b in rng.normal(0, 1, (500, 2))]))
    yield run
    drift.shutdown()


def attrs_of(span) -> dict:
    return {a.key: a.value for a in span.attributes}


def test_out_of_range_span_is_tagged_others_untouched(pipeline):
    raw = sdk_request([{"f0": 0.1, "f1": -0.2}, {"f0": 100.0, "f1": 0.3}, {"f0": -50.0, "f1": 99.0}])
    req = pipeline(raw)
    out = ExportTraceServiceRequest.FromString(req.payload())
    orig = ExportTraceServiceRequest.FromString(raw)
    spans = out.resource_spans[0].scope_spans[0].spans
    before = orig.resource_spans[0].scope_spans[0].spans
    assert len(spans) == 3
    assert "ml.drift.features" not in attrs_of(spans[0])
    assert spans[0] == before[0]  # an untagged span is unchanged
    tags = [[v.string_value for v in attrs_of(s)["ml.drift.features"].array_value.values] for s in spans[1:]]
    assert tags == [["f0"], ["f0", "f1"]]
    for new, old in zip(spans[1:], before[1:], strict=True):
        assert list(new.attributes)[: len(old.attributes)] == list(old.attributes)  # nothing else changed
        assert len(new.attributes) == len(old.attributes) + 1


def test_stable_request_is_forwarded_as_received(pipeline):
    raw = sdk_request([{"f0": 0.1, "f1": -0.2}, {"f0": 0.5, "f1": 0.3}])
    req = pipeline(raw)
    assert req.payload() is raw or req.payload() == raw
    assert not req.modified


def random_request(rng: random.Random) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(rng.randint(1, 3)):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="x" * rng.randint(1, 300)))
        rs.schema_url = "https://opentelemetry.io/schemas/1.21.0"
        for _ in range(rng.randint(1, 3)):
            ss = rs.scope_spans.add()
            ss.scope.name = "otelml"
            for _ in range(rng.randint(0, 40)):
                span = ss.spans.add(
                    trace_id=rng.randbytes(16) if rng.random() > 0.2 else b"",  # b"": slow path
                    span_id=rng.randbytes(8),
                    name="inference m",
                    kind=1,
                    start_time_unix_nano=rng.getrandbits(63),
                    end_time_unix_nano=rng.getrandbits(63),
                )
                span.attributes.extend(
                    [
                        KeyValue(key=f"k{i}", value=AnyValue(string_value="v" * rng.randint(0, 200)))
                        for i in range(5)
                    ]
                )
                span.events.add(name="e", time_unix_nano=5)
                span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                span.status.code = 1
    return req


@pytest.mark.parametrize("markers", [False, True])
def test_splice_equals_editing_the_message(markers):
    rng = random.Random(42)
    for _ in range(60):
        msg = random_request(rng)
        raw = msg.SerializeToString()
        spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
        chosen = rng.sample(spans, k=min(len(spans), rng.randint(0, 6)))
        flags = {
            s.span_id: {rng.choice(["age", "income", "x_1"]) for _ in range(rng.randint(1, 3))}
            for s in chosen
        }
        flags[rng.randbytes(8)] = {"ghost"}  # a span id not in the request changes nothing

        via_message = TelemetryRequest(
            signal=Signal.TRACES, raw=raw, message=ExportTraceServiceRequest.FromString(raw)
        )
        n_msg = tag_spans(via_message, flags, markers)
        spliced = splice_tags(raw, flags, markers)
        if not chosen:
            assert spliced is None and n_msg == 0
            continue
        assert spliced is not None
        data, n = spliced
        assert n == n_msg == len(chosen)
        assert ExportTraceServiceRequest.FromString(data) == via_message.message

        via_bytes = TelemetryRequest(signal=Signal.TRACES, raw=raw)
        assert tag_spans(via_bytes, flags, markers) == len(chosen)
        assert via_bytes.payload() == data and not via_bytes.modified


def test_bytes_the_splice_cannot_read_go_to_protobuf():
    raw = b"\x0a\xff\xff\xff\x0f\x12\x08" + b"A" * 8  # a length running past the end
    assert splice_tags_or_error(raw) == "ValueError"
    req = TelemetryRequest(signal=Signal.TRACES, raw=raw)
    with pytest.raises(DecodeError):  # protobuf judges them; the drift processor logs and forwards
        tag_spans(req, {b"A" * 8: {"f"}})


def splice_tags(raw: bytes, flags: dict[bytes, set[str]], markers: bool = False) -> tuple[bytes, int] | None:
    """The span-id walk with the drift processor's attributes for `flags` (span id -> names)."""
    return splice.splice_tags(raw, {sid: drift_attributes(n, markers) for sid, n in flags.items()})


def splice_at(
    raw: bytes, at: dict[int, tuple[bytes, set[str]]], markers: bool = False
) -> tuple[bytes, int] | None:
    """The offset jump with the drift processor's attributes (`at`: offset -> (span id, names))."""
    attrs = {sid: drift_attributes(n, markers) for sid, n in at.values()}
    return splice.splice_at(raw, {off: sid for off, (sid, _) in at.items()}, attrs)


def splice_tags_or_error(raw: bytes) -> object:
    try:
        return splice_tags(raw, {b"A" * 8: {"f"}})
    except (ValueError, IndexError) as exc:
        return type(exc).__name__


@pytest.mark.parametrize("markers", [False, True])
def test_splice_at_span_offsets_equals_the_span_id_walk(markers):
    from otelml_collector.otlp.wire import span_offsets as _span_offsets

    rng = random.Random(7)
    for _ in range(60):
        msg = random_request(rng)
        raw = msg.SerializeToString()
        spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
        offsets = _span_offsets(raw)
        assert offsets is not None and len(offsets) == len(spans)
        if not spans:
            continue
        chosen = rng.sample(range(len(spans)), k=min(len(spans), rng.randint(1, 6)))
        names = {i: {rng.choice(["age", "income", "x_1"]) for _ in range(rng.randint(1, 3))} for i in chosen}
        flags = {spans[i].span_id: names[i] for i in chosen}
        at = {offsets[i]: (spans[i].span_id, names[i]) for i in chosen}
        assert splice_at(raw, at, markers) == splice_tags(raw, flags, markers)
        via_bytes = TelemetryRequest(signal=Signal.TRACES, raw=raw)
        assert tag_spans(via_bytes, flags, markers, at) == len(chosen)
        assert via_bytes.payload() == splice_tags(raw, flags, markers)[0]


def test_offsets_that_do_not_fit_the_bytes_fall_back_to_the_span_id_walk():
    from otelml_collector.otlp.wire import span_offsets as _span_offsets

    msg = random_request(random.Random(3))
    raw = msg.SerializeToString()
    spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
    offsets = _span_offsets(raw)
    flags = {spans[-1].span_id: {"age"}}
    expected = splice_tags(raw, flags)[0]
    for wrong in (
        {offsets[-1] + 1: (spans[-1].span_id, {"age"})},  # not a span field
        {offsets[0]: (spans[-1].span_id, {"age"})} if len(spans) > 1 else {1: (b"x" * 8, {"age"})},
        {len(raw) + 5: (spans[-1].span_id, {"age"})},  # beyond the request
    ):
        with pytest.raises((ValueError, IndexError)):
            splice_at(raw, wrong)
        req = TelemetryRequest(signal=Signal.TRACES, raw=raw)
        assert tag_spans(req, flags, False, wrong) == 1
        assert req.payload() == expected
