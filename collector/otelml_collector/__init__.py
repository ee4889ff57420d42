"""otelml sidecar: OTLP in, drift / data-quality / performance signals and the original telemetry out."""

__version__ = "0.1.0"
