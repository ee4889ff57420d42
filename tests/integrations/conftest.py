"""Fixtures: a real SDK tracer provider with an in-memory exporter, and instrumentors turned on for a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelml import _config, _errors, _telemetry


@pytest.fixture(autouse=True)
def _fresh_error_log() -> None:
    _errors._seen.clear()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    exp.provider = provider  # type: ignore[attr-defined]
    saved = _config._active
    yield exp
    _config._active = saved
    _telemetry.reset_providers()
    provider.shutdown()


@pytest.fixture
def instrument(exporter: InMemorySpanExporter) -> Iterator[Callable[..., Any]]:
    """``instrument(SomeInstrumentor, **kwargs)`` turns it on against ``exporter``; all off afterwards."""
    on: list[Any] = []

    def turn_on(cls: type, **kwargs: Any) -> Any:
        instrumentor = cls()
        instrumentor.instrument(tracer_provider=exporter.provider, **kwargs)  # type: ignore[attr-defined]
        on.append(instrumentor)
        return instrumentor

    yield turn_on
    for instrumentor in reversed(on):
        instrumentor.uninstrument()
