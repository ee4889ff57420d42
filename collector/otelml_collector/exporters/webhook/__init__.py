"""Exporter `webhook`: every alert the sidecar raises, posted to Slack or a JSON webhook with retries,
deduplication and a rate limit. Configuration: docs/alerts.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.exporters.webhook.config import WebhookConfig
from otelml_collector.exporters.webhook.exporter import WebhookExporter
from otelml_collector.exporters.webhook.factory import WebhookExporterFactory

__all__ = ["WebhookConfig", "WebhookExporter", "WebhookExporterFactory"]

registry.register(WebhookExporterFactory())
