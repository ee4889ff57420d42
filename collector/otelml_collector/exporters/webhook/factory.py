"""Factory of the `webhook` exporter."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping
from otelml_collector.exporters.webhook.config import WebhookConfig
from otelml_collector.exporters.webhook.exporter import WebhookExporter

__all__ = ["WebhookExporterFactory"]


class WebhookExporterFactory:
    type: ClassVar[str] = "webhook"
    kind: ClassVar[str] = "exporter"
    forwards_telemetry: ClassVar[bool] = False  # posts alerts; the pipeline's spans go no further

    def default_config(self) -> WebhookConfig:
        return WebhookConfig()

    def config_from_dict(self, raw: dict[str, Any] | None) -> WebhookConfig:
        return from_mapping(WebhookConfig, raw)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> WebhookExporter:
        assert isinstance(config, WebhookConfig)
        config.validate()
        return WebhookExporter(config, ctx)
