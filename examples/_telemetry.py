"""Shared set-up of the example services: otelml plus the standard HTTP instrumentations."""

from __future__ import annotations

from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor

import otelml.auto  # noqa: F401  (providers from OTEL_*, otelml propagator, scikit-learn instrumentor)

__all__ = ["instrument_app"]


def instrument_app(app: object) -> None:
    """Server spans for the FastAPI app (each request is one prediction scope) and client spans for
    `requests`, which carry the W3C trace context and the `ml.prediction.id` baggage downstream."""
    FastAPIInstrumentor.instrument_app(app)
    RequestsInstrumentor().instrument()
