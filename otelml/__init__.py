"""otelml: OpenTelemetry-native observability for machine-learning systems."""

__version__ = "0.1.0"
