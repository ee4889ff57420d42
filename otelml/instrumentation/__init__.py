"""otelml instrumentors, each a ``BaseInstrumentor`` registered under the ``opentelemetry_instrumentor``
entry point (so ``import otelml.auto`` and ``opentelemetry-instrument`` both find them)."""
