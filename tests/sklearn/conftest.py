"""Fixtures: a real SDK tracer provider with an in-memory exporter, the instrumentor on it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelml import _config, _errors, _telemetry
from otelml.instrumentation.sklearn import SklearnInstrumentor


@pytest.fixture(autouse=True)
def _fresh_error_log() -> None:
    """Each test sees otelml's first-failure warnings (log_once) as if no earlier test had failed there."""
    _errors._seen.clear()


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


def _load_receiver_module() -> Any:
    path = Path(__file__).with_name("otlp_receiver.py")
    spec = importlib.util.spec_from_file_location("otelml_tests_sklearn_otlp_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def otlp_receiver() -> Iterator[Any]:
    """A started real OTLP/gRPC receiver on 127.0.0.1 keeping raw request bytes; stopped afterwards."""
    with _load_receiver_module().RawOtlpReceiver() as receiver:
        yield receiver
