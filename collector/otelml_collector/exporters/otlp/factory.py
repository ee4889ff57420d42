"""Factory of the `otlp` exporter."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping
from otelml_collector.exporters.otlp.config import OtlpExporterConfig
from otelml_collector.exporters.otlp.exporter import OtlpExporter

__all__ = ["OtlpExporterFactory"]


class OtlpExporterFactory:
    type: ClassVar[str] = "otlp"
    kind: ClassVar[str] = "exporter"

    def default_config(self) -> OtlpExporterConfig:
        return OtlpExporterConfig()

    def config_from_dict(self, raw: dict[str, Any] | None) -> OtlpExporterConfig:
        return from_mapping(OtlpExporterConfig, raw)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> OtlpExporter:
        assert isinstance(config, OtlpExporterConfig)
        return OtlpExporter(config, ctx)
