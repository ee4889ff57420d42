"""Fixtures: a real SDK tracer provider with an in-memory exporter, the instrumentor on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelml import _config, _telemetry
from otelml.instrumentation.sklearn import SklearnInstrumentor


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Instrument sklearn with a fresh provider; yields its exporter; uninstruments afterwards."""
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    exp.provider = provider  # type: ignore[attr-defined]  # for tests that re-instrument
    saved = _config._active
    yield exp
    _config._active = saved
    instrumentor.uninstrument()
    _telemetry.reset_providers()
    provider.shutdown()
