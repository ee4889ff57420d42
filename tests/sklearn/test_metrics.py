"""ml.inference.duration and ml.predictions from instrumented scikit-learn calls, read from a real SDK
MeterProvider: the duration is recorded off the request path yet its exemplars still name the inference
span (trace and span id), nothing queued is lost, and it works without exported traces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sklearn.linear_model import LogisticRegression

import otelml
from otelml import _telemetry
from otelml.instrumentation.sklearn import SklearnInstrumentor


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    metric_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[metric_reader])
    otelml.configure(meter_provider=provider)
    yield metric_reader
    _telemetry.reset_providers()
    provider.shutdown()


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    return LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int)), X


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


def _predict_rows(model: LogisticRegression, X: np.ndarray) -> tuple[list[Any], float]:
    results, elapsed = [], 0.0
    for i in range(len(X)):
        t0 = time.perf_counter()
        results.append(model.predict_proba(X[i:i + 1]))
        elapsed += time.perf_counter() - t0
    return results, elapsed


def test_duration_exemplars_point_at_the_inference_spans(exporter, reader, fitted) -> None:
    model, X = fitted
    results, elapsed = _predict_rows(model, X[:12])
    spans = {(s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()}
    assert len(spans) == 12
    points = _points(reader)
    (hist,) = points["ml.inference.duration"]
    assert hist.count == 12
    assert 0 < hist.sum <= elapsed
    assert dict(hist.attributes) == {"ml.model.name": "LogisticRegression"}
    assert hist.exemplars
    assert {(e.trace_id, e.span_id) for e in hist.exemplars} <= spans
    # The classes the user got back (argmax of sklearn's probabilities), counted with numpy.
    expected = np.unique(model.classes_[np.vstack(results).argmax(axis=1)], return_counts=True)
    counts = {p.attributes["ml.prediction.class"]: p.value for p in points["ml.predictions"]}
    assert counts == {str(c): int(n) for c, n in zip(*expected, strict=True)}
    # A second collection sees the same cumulative numbers: nothing is recorded twice.
    (again,) = _points(reader)["ml.inference.duration"]
    assert again.count == 12


def test_durations_beyond_the_queue_bound_are_recorded_at_once(exporter, reader, fitted,
                                                                monkeypatch) -> None:
    monkeypatch.setattr(_telemetry, "MAX_PENDING", 3)
    model, X = fitted
    _predict_rows(model, X[:10])
    assert len(_telemetry._pending) == 3  # the first three wait for the collection, the rest went through
    spans = {(s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()}
    (hist,) = _points(reader)["ml.inference.duration"]
    assert hist.count == 10
    assert hist.exemplars and {(e.trace_id, e.span_id) for e in hist.exemplars} <= spans
    assert len(_telemetry._pending) == 0


def test_duration_is_recorded_when_traces_are_not_exported(reader, fitted) -> None:
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(tracer_provider=trace.NoOpTracerProvider())
    try:
        model, X = fitted
        results, _ = _predict_rows(model, X[:5])
    finally:
        instrumentor.uninstrument()
    bare = [model.predict_proba(X[i:i + 1]) for i in range(5)]  # uninstrumented now
    np.testing.assert_array_equal(np.vstack(results), np.vstack(bare))
    (hist,) = _points(reader)["ml.inference.duration"]
    assert hist.count == 5
    assert hist.exemplars == [] or all(e.trace_id in (None, 0) for e in hist.exemplars)


def test_no_meter_provider_queues_nothing(exporter, fitted) -> None:
    model, X = fitted
    _predict_rows(model, X[:5])
    assert len(exporter.get_finished_spans()) == 5
    assert len(_telemetry._pending) == 0  # the API's no-op: nothing held for a reader that never comes


def test_exemplar_per_bucket_is_the_last_call_in_that_bucket(reader) -> None:
    """The SDK keeps the last measurement per bucket as exemplar; recording at collection keeps that."""
    from opentelemetry.trace import SpanContext, TraceFlags

    def ctx(n: int) -> SpanContext:
        return SpanContext(0x1000 + n, 0x2000 + n, is_remote=False, trace_flags=TraceFlags(1))

    # (0.00025, 0.0005] gets calls 1 and 2, (0.01, 0.025] gets call 3, (0.1, 0.25] calls 4 and 5.
    for n, seconds in enumerate((0.0003, 0.0004, 0.02, 0.2, 0.15), start=1):
        _telemetry.record_duration("m", "1", seconds, None, ctx(n))
    (hist,) = _points(reader)["ml.inference.duration"]
    assert hist.count == 5
    assert hist.sum == pytest.approx(0.0003 + 0.0004 + 0.02 + 0.2 + 0.15)
    assert sorted((e.span_id, e.value) for e in hist.exemplars) == [
        (0x2002, 0.0004), (0x2003, 0.02), (0x2005, 0.15)]
    assert {e.trace_id for e in hist.exemplars} == {0x1002, 0x1003, 0x1005}
