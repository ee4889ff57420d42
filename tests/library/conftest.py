"""Real OTel SDK providers with in-memory exporters/readers, given to otelml through configure()."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelml
from otelml import _config, _telemetry


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def finished(self) -> list:
        return list(self.spans.get_finished_spans())

    def collect(self) -> dict[str, list]:
        """Data points by metric name (one collection: exemplars are reset by each)."""
        data = self.metrics.get_metrics_data()
        points: dict[str, list] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    for var in ("OTELML_CAPTURE_FEATURES", "OTELML_REDACT_FEATURES", "OTELML_HASH_FEATURES",
                "OTELML_DROP_FEATURES", "OTELML_LOG_PREDICTIONS", "OTELML_METRICS", "OTELML_MAX_BATCH_ROWS"):
        monkeypatch.delenv(var, raising=False)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    otelml.configure(tracer_provider=tracer_provider, meter_provider=meter_provider,
                     logger_provider=logger_provider)
    _config.configure()
    yield Telemetry(tracer_provider, spans, reader, logs)
    _telemetry.reset_providers()
    _config.configure()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()
