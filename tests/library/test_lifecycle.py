"""One span lifecycle: an instrumented model call and ``otelml.inference(...)`` give the same span
(that OpenTelemetry's private names are read in ``_lifecycle.py`` and ``auto.py`` only is checked by
tests/architecture/test_import_rules.py)."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.linear_model import LogisticRegression

import otelml
from otelml import _config, _telemetry
from otelml.instrumentation.sklearn import SklearnInstrumentor

RNG = np.random.default_rng(3)
X = RNG.normal(size=(200, 4))
Y = (X[:, 0] > X[:, 1]).astype(int)


@pytest.fixture
def provider():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    otelml.configure(tracer_provider=tracer_provider)
    saved = _config._active
    yield tracer_provider, exporter
    _config._active = saved
    _telemetry.reset_providers()
    tracer_provider.shutdown()


def _inference_spans(exporter):
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("inference ")]
    exporter.clear()
    return spans


def _shape(span) -> tuple:
    return (span.name, span.kind, dict(span.attributes), span.status.status_code, span.status.description,
            list(span.links))


@pytest.mark.parametrize("rows", [1, 3])
def test_instrumentor_span_equals_the_manual_api_span(provider, rows) -> None:
    tracer_provider, exporter = provider
    model = LogisticRegression().fit(X, Y)
    data = X[:rows].copy()
    proba = model.predict_proba(data)
    best = proba.argmax(axis=1)

    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        with otelml.prediction(id="same-prediction"):
            model.predict_proba(data)
    finally:
        instrumentor.uninstrument()
    (automatic,) = _inference_spans(exporter)

    with otelml.prediction(id="same-prediction"), otelml.inference(
            "LogisticRegression", framework="sklearn", task="classification", features=data) as handle:
        if rows == 1:
            handle.set_prediction(model.classes_[best[0]], proba[0, 1])
        else:
            handle.set_prediction(model.classes_[best], proba[:, 1])
    (manual,) = _inference_spans(exporter)

    assert _shape(automatic) == _shape(manual)
    assert automatic.attributes["ml.feature.f3"] == (data[0, 3] if rows == 1 else tuple(data[:, 3]))


def test_failed_calls_give_the_same_span(provider) -> None:
    tracer_provider, exporter = provider
    model = LogisticRegression().fit(X, Y)
    bad = np.ones((1, 7))
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        with otelml.prediction(id="failing"), pytest.raises(ValueError) as raised:
            model.predict(bad)
    finally:
        instrumentor.uninstrument()
    (automatic,) = _inference_spans(exporter)

    with pytest.raises(ValueError), otelml.prediction(id="failing"), otelml.inference(
            "LogisticRegression", framework="sklearn", task="classification", features=bad):
        raise raised.value
    (manual,) = _inference_spans(exporter)

    assert _shape(automatic) == _shape(manual)
    assert automatic.status.description.startswith("ValueError: ")
