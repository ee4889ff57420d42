"""ml_extract: real OTLP requests (encoded by the OTel SDK's own OTLP encoder, or built with the proto
classes for what the SDK cannot produce) in, ModelBatch columns out."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.extract import MLExtractConfig, MLExtractFactory
from otelml_collector.processors.extract.assemble import OTHER
from otelml_collector.processors.extract.scan import HAVE_FAST_SCAN


class Harness:
    """A tracer that records real SDK spans, and an ml_extract processor with a metric reader."""

    def __init__(self, **config: int) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("test")
        self.reader = InMemoryMetricReader()
        ctx = ComponentContext(
            "ml_extract", None, MeterProvider(metric_readers=[self.reader]), LoggerProvider()
        )  # type: ignore[arg-type]
        factory = MLExtractFactory()
        self.processor = factory.create(factory.config_from_dict(config), ctx)

    def span(self, name: str, attributes: dict[str, object]) -> None:
        with self.tracer.start_as_current_span(name, attributes=attributes):  # type: ignore[arg-type]
            pass

    def request(self) -> bytes:
        spans = self.exporter.get_finished_spans()
        self.exporter.clear()
        return encode_spans(spans).SerializeToString()

    def extract(self, raw: bytes | None = None):  # type: ignore[no-untyped-def]
        raw = self.request() if raw is None else raw
        request = self.processor.process(TelemetryRequest(Signal.TRACES, raw))
        assert request.raw == raw and not request.modified  # forwarded as received
        return request.records

    def metric(self, name: str) -> dict[tuple[tuple[str, object], ...], float]:
        data = self.reader.get_metrics_data()
        points: dict[tuple[tuple[str, object], ...], float] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for p in metric.data.data_points:
                            points[tuple(sorted(p.attributes.items()))] = p.value
        return points


def inference(model: str = "churn", version: str | None = "3", **extra: object) -> dict[str, object]:
    attrs: dict[str, object] = {"ml.operation.name": "inference", "ml.model.name": model}
    if version is not None:
        attrs["ml.model.version"] = version
    attrs.update({k.replace("__", "."): v for k, v in extra.items()})
    return attrs


def test_scalar_span_gives_one_row_with_every_column() -> None:
    h = Harness()
    h.span(
        "inference churn",
        inference(
            ml__feature__age=41.5,
            ml__feature__visits=7,
            ml__feature__premium=True,
            ml__feature__plan="gold",
            ml__prediction__value=1,
            ml__prediction__score=0.83,
            ml__prediction__id="p-1",
            ml__segment__region="eu",
        ),
    )
    finished = h.exporter.get_finished_spans()[0]
    [batch] = h.extract()
    assert (batch.model, batch.version, len(batch)) == ("churn", "3", 1)
    assert batch.numeric["age"].tolist() == [41.5]
    assert batch.numeric["visits"].tolist() == [7.0]
    assert batch.numeric["premium"].tolist() == [1.0]
    assert batch.categorical["plan"].tolist() == ["gold"]
    assert set(batch.numeric) == {"age", "visits", "premium"} and set(batch.categorical) == {"plan"}
    assert batch.prediction_value is not None and batch.prediction_value.tolist() == [1.0]
    assert batch.prediction_score is not None and batch.prediction_score.tolist() == [0.83]
    assert batch.segments["region"].tolist() == ["eu"]
    assert batch.prediction_id == ["p-1"]
    assert bytes(batch.trace_id[0]) == finished.context.trace_id.to_bytes(16, "big")
    assert bytes(batch.span_id[0]) == finished.context.span_id.to_bytes(8, "big")
    assert batch.time_unix_nano.tolist() == [finished.end_time]
    assert batch.invalid == {}


def test_array_attributes_give_one_row_per_element_sharing_the_span_ids() -> None:
    h = Harness()
    h.span(
        "inference churn",
        inference(
            ml__feature__age=[30.0, 40.0, 50.0],
            ml__feature__plan=["a", "b", "a"],
            ml__feature__short=[1.0, 2.0],
            ml__prediction__score=[0.1, 0.2, 0.3],
            ml__segment__region="us",
            ml__batch__size=3,
        ),
    )
    h.span("inference churn", inference(ml__feature__age=60.0))
    spans = h.exporter.get_finished_spans()
    [batch] = h.extract()
    assert len(batch) == 4
    assert batch.numeric["age"].tolist() == [30.0, 40.0, 50.0, 60.0]
    assert batch.categorical["plan"].tolist() == ["a", "b", "a", None]
    short = batch.numeric["short"]
    assert short[:2].tolist() == [1.0, 2.0] and np.isnan(short[2:]).all()
    assert batch.segments["region"].tolist() == ["us", "us", "us", None]  # a scalar covers its span's rows
    ids = [bytes(row) for row in batch.span_id]
    assert ids == [spans[0].context.span_id.to_bytes(8, "big")] * 3 + [
        spans[1].context.span_id.to_bytes(8, "big")
    ]
    assert batch.prediction_score is not None
    np.testing.assert_array_equal(batch.prediction_score, [0.1, 0.2, 0.3, np.nan])


def test_non_finite_and_wrong_typed_values_are_counted_and_the_rest_kept() -> None:
    h = Harness()
    h.span(
        "inference churn", inference(ml__feature__age=1.0, ml__feature__plan="a", ml__prediction__score=0.5)
    )
    h.span(
        "inference churn",
        inference(
            ml__feature__age=math.nan, ml__feature__plan=3, ml__prediction__score="high", ml__segment__tier=2
        ),
    )
    h.span("inference churn", inference(ml__feature__age=[math.inf, 2.0, -math.inf], ml__feature__plan="b"))
    batches = h.extract()
    [batch] = batches
    np.testing.assert_array_equal(batch.numeric["age"], [1.0, np.nan, np.nan, 2.0, np.nan])
    assert batch.categorical["plan"].tolist() == ["a", None, "b", "b", "b"]
    assert batch.segments["tier"].tolist() == [None, "2", None, None, None]  # ints become decimal strings
    assert batch.invalid == {"age": 3, "plan": 1, "ml.prediction.score": 1}
    points = h.metric("otelml_collector.extract.invalid_values")
    by_feature = {dict(k)["ml.feature.name"]: v for k, v in points.items()}
    assert by_feature == {"age": 3, "plan": 1, "ml.prediction.score": 1}


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def test_values_the_sdk_cannot_send_bytes_maps_nested_arrays_are_invalid() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="inference m", span_id=b"\1" * 8)
    span.attributes.extend(
        [
            _kv("ml.feature.x", AnyValue(bytes_value=b"\x00")),
            _kv("ml.feature.y", AnyValue(double_value=2.5)),
            _kv("ml.feature.z", AnyValue()),
            _kv("ml.feature.w", AnyValue(array_value=ArrayValue(values=[AnyValue(double_value=1.0)] * 2))),
            _kv(
                "ml.feature.y2", AnyValue(array_value=ArrayValue(values=[AnyValue(array_value=ArrayValue())]))
            ),
        ]
    )
    [batch] = Harness().extract(request.SerializeToString())
    assert batch.model == "m" and batch.version == ""  # model from the span name "inference <model>"
    assert len(batch) == 2
    assert batch.numeric["y"].tolist() == [2.5, 2.5]
    assert batch.numeric["w"].tolist() == [1.0, 1.0]
    assert batch.invalid == {"x": 2, "z": 2, "y2": 1}
    assert bytes(batch.trace_id[0]) == bytes(16)


def test_only_inference_spans_are_extracted_and_spans_without_model_are_counted() -> None:
    h = Harness()
    with h.tracer.start_as_current_span("GET /predict", attributes={"ml.feature.age": 1.0}):
        h.span("feature_lookup users", {"ml.operation.name": "feature_lookup", "ml.feature.names": ["a"]})
        h.span("predict", {"ml.operation.name": "inference", "ml.feature.age": 2.0})  # no model anywhere
        h.span("inference churn", {"ml.feature.age": 3.0})  # model from the name
        h.span("call", inference(model="fraud", ml__feature__age=4.0))
    batches = h.extract()
    assert [(b.model, b.version, b.numeric["age"].tolist()) for b in batches] == [
        ("churn", "", [3.0]),
        ("fraud", "3", [4.0]),
    ]
    snapshot = h.processor.snapshot()
    assert snapshot["dropped"] == {"no_model": 1} and snapshot["spans"] == 2
    assert h.metric("otelml_collector.extract.dropped_spans") == {(("reason", "no_model"),): 1}


def test_several_models_and_versions_get_one_batch_each_in_order_of_appearance() -> None:
    h = Harness()
    for i, (model, version) in enumerate([("b", "1"), ("a", "1"), ("b", "2"), ("b", "1")]):
        h.span(f"inference {model}", inference(model=model, version=version, ml__feature__x=float(i)))
    batches = h.extract()
    assert [(b.model, b.version, b.numeric["x"].tolist()) for b in batches] == [
        ("b", "1", [0.0, 3.0]),
        ("a", "1", [1.0]),
        ("b", "2", [2.0]),
    ]


def test_a_feature_keeps_the_type_it_first_had() -> None:
    h = Harness()
    h.span("inference churn", inference(ml__feature__code="A7"))
    h.extract()
    h.span("inference churn", inference(ml__feature__code=7))
    [batch] = h.extract()
    assert batch.categorical["code"].tolist() == [None] and batch.invalid == {"code": 1}
    assert "code" not in batch.numeric


def test_model_cap_skips_new_models_logs_once_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(max_models=1)
    caplog.set_level(logging.WARNING, logger="otelml_collector")
    for _ in range(2):
        h.span("inference a", inference(model="a", ml__feature__x=1.0))
        h.span("inference b", inference(model="b", ml__feature__x=1.0))
        h.span("inference b", inference(model="b", ml__feature__x=2.0))
        assert [b.model for b in h.extract()] == ["a"]
    warnings = [r.getMessage() for r in caplog.records if "max_models" in r.getMessage()]
    assert len(warnings) == 1 and "processors.ml_extract.max_models=1" in warnings[0]
    assert h.metric("otelml_collector.extract.capped") == {(("cap", "models"),): 4}


def test_feature_and_category_caps() -> None:
    h = Harness(max_features_per_model=2, max_categories_per_feature=2)
    h.span("inference m", inference(model="m", ml__feature__a=1.0, ml__feature__b="x", ml__feature__c=3.0))
    h.span("inference m", inference(model="m", ml__feature__b="y"))
    h.span("inference m", inference(model="m", ml__feature__b="z"))
    h.span("inference m", inference(model="m", ml__feature__b="x"))
    [batch] = h.extract()
    assert set(batch.numeric) == {"a"} and set(batch.categorical) == {"b"}  # c came third
    assert batch.categorical["b"].tolist() == ["x", "y", OTHER, "x"]
    assert h.metric("otelml_collector.extract.capped") == {
        (("cap", "features"),): 1,
        (("cap", "categories"),): 1,
    }


def test_strings_longer_than_max_string_bytes_are_cut_at_a_character_boundary_and_counted() -> None:
    h = Harness(max_string_bytes=8)
    h.span("inference m", inference(model="m", ml__feature__note="abcdefghij", ml__segment__s="abcdefgé"))
    h.span("inference m", inference(model="m", ml__feature__note="short", ml__segment__s="ok"))
    h.span("inference m", inference(model="m", ml__feature__note="abcdefghij", ml__segment__s="ok"))
    [batch] = h.extract()
    assert batch.categorical["note"].tolist() == ["abcdefgh", "short", "abcdefgh"]
    assert batch.segments["s"].tolist() == ["abcdefg", "ok", "ok"]  # "é" is 2 bytes: not split
    assert h.metric("otelml_collector.extract.capped") == {(("cap", "strings"),): 3}
    assert h.processor.snapshot()["capped"] == {"strings": 3}


def test_undecodable_and_non_trace_requests_pass_through_untouched(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    garbage = b"\x0a\xff\xff\xff\x0f not protobuf"
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(garbage)
    assert h.extract(garbage) == []
    metrics = h.processor.process(TelemetryRequest(Signal.METRICS, b"\x01\x02"))
    assert metrics.records == [] and metrics.raw == b"\x01\x02"
    assert h.processor.snapshot()["dropped"] == {"undecodable": 1}
    assert any("could not be decoded" in r.getMessage() for r in caplog.records)
    h.span("inference churn", inference(ml__feature__x=1.0))  # the next good request still works
    assert [len(b) for b in h.extract()] == [1]


def test_in_memory_requests_are_extracted_from_the_message() -> None:
    h = Harness()
    h.span("inference churn", inference(ml__feature__x=5.0))
    message = ExportTraceServiceRequest.FromString(h.request())
    request = h.processor.process(TelemetryRequest(Signal.TRACES, None, message=message))
    assert request.records[0].numeric["x"].tolist() == [5.0]


def test_config_errors_name_the_key() -> None:
    factory = MLExtractFactory()
    with pytest.raises(ValueError, match="unknown key 'max_model'"):
        factory.config_from_dict({"max_model": 3})
    with pytest.raises(ValueError, match="max_categories_per_feature must be a positive integer, got 0"):
        factory.config_from_dict({"max_categories_per_feature": 0})
    assert factory.config_from_dict({}) == MLExtractConfig()
    assert registry.get("processor", "ml_extract").type == "ml_extract"


def test_fast_scanner_is_built() -> None:
    """`pip install -e .` builds the C scanner wherever gcc exists (CI included)."""
    assert HAVE_FAST_SCAN, "otelml_collector.otlp._fastscan is not built: `pip install -e .` with gcc present"


def test_random_and_mutated_bytes_never_raise_into_the_pipeline() -> None:
    """Whatever arrives, process() returns the request unchanged; what it extracts is well-formed."""
    import random

    h = Harness()
    for i in range(20):
        h.span("inference churn", inference(ml__feature__age=float(i), ml__feature__plan=["a", "b"][i % 2]))
    good = h.request()
    rng = random.Random(0)
    for _ in range(300):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.2:
            raw = bytearray(rng.randbytes(rng.randint(0, 64)))
        for batch in h.extract(bytes(raw)):
            n = len(batch)
            assert batch.trace_id.shape == (n, 16) and batch.span_id.shape == (n, 8)
            assert len(batch.prediction_id) == n
            assert all(len(c) == n for c in [*batch.numeric.values(), *batch.categorical.values()])
    snapshot = h.processor.snapshot()
    assert snapshot["spans"] > 0 and snapshot["dropped"].get("undecodable", 0) > 0
    assert "internal_error" not in snapshot["dropped"]  # every input took an intended path


def test_span_offsets_point_at_each_rows_span_in_the_received_bytes() -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    h = Harness()
    h.span("GET /", {"http.route": "/"})  # a non-inference span before them shifts the offsets
    for i in range(5):
        h.span("inference churn", inference(ml__feature__x=[float(i)] * (i % 2 + 1)))
    raw = h.request()
    [batch] = h.extract(raw)
    assert batch.span_offset is not None and len(batch.span_offset) == len(batch) == 7
    for row, offset in enumerate(batch.span_offset.tolist()):
        assert raw[offset] == 0x12  # ScopeSpans.spans, length-delimited
        size, pos = raw[offset + 1], offset + 2
        if size >= 0x80:  # two-byte length
            size, pos = (size & 0x7F) | (raw[offset + 2] << 7), offset + 3
        span = Span.FromString(raw[pos : pos + size])
        assert span.span_id == bytes(batch.span_id[row])
    message = ExportTraceServiceRequest.FromString(raw)
    in_memory = h.processor.process(TelemetryRequest(Signal.TRACES, None, message=message))
    assert in_memory.records[0].span_offset is None  # no bytes, no offsets
