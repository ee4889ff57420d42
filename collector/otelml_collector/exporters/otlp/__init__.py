"""Exporter `otlp`: forwards traces, metrics and logs downstream (bounded sending queue, retries)."""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.exporters.otlp.config import OtlpExporterConfig
from otelml_collector.exporters.otlp.exporter import OtlpExporter
from otelml_collector.exporters.otlp.factory import OtlpExporterFactory

__all__ = ["OtlpExporter", "OtlpExporterConfig", "OtlpExporterFactory"]

registry.register(OtlpExporterFactory())
