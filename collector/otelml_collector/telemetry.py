"""The sidecar's own telemetry: counters, and the OTel SDK providers that export them downstream.

`Counters` holds the pipeline's honest numbers (what was received, refused, forwarded, dropped, by
signal and reason). They are plain integers under a lock on the hot path, published three ways:
as OTel observable counters (`otelml_collector.spans.received`, ...), on `/v1/status`, and as
Prometheus text on `/metrics`.

`build_providers()` creates the MeterProvider and LoggerProvider handed to every component in
`ComponentContext`: OTLP exporters to the downstream (same endpoint, protocol, headers, TLS files,
timeout and compression as the forwarding exporter), trace-based exemplar filter so a measurement
recorded inside a span context of a real prediction carries its trace/span id, plus any metric views
the configured factories ask for (`Factory.metric_views()`, optional).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from otelml_collector import __version__
from otelml_collector.downstream import Target
from otelml_collector.security import grpc_client_credentials

__all__ = ["ITEM_NAMES", "Counters", "build_providers"]

_log = logging.getLogger("otelml_collector.telemetry")

ITEM_NAMES = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}
"""What is counted per signal; metric names are `otelml_collector.<item>.<outcome>`."""

OUTCOMES = ("received", "refused", "forwarded", "dropped")
_DESCRIPTIONS = {
    "received": "accepted by the receiver",
    "refused": "refused by the receiver (bad input, queue full); the client was told",
    "forwarded": "delivered to the downstream OTLP endpoint",
    "dropped": "accepted but not delivered downstream, by reason",
}


class Counters:
    """Thread-safe monotonic counters keyed by (signal, outcome, reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str, str], int] = {}

    def add(self, signal: str, outcome: str, n: int, reason: str = "") -> None:
        if n <= 0:
            return
        key = (str(signal), outcome, reason)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + n

    def get(self, signal: str, outcome: str, reason: str | None = None) -> int:
        """Total for (signal, outcome); restricted to one reason when given."""
        with self._lock:
            return sum(
                v
                for (s, o, r), v in self._values.items()
                if s == signal and o == outcome and (reason is None or r == reason)
            )

    def snapshot(self) -> dict[str, dict[str, object]]:
        """{"spans": {"received": 10, "dropped": {"total": 2, "queue_full": 2}, ...}, ...}"""
        with self._lock:
            items = list(self._values.items())
        out: dict[str, dict[str, object]] = {
            item: {o: 0 if o in ("received", "forwarded") else {"total": 0} for o in OUTCOMES}
            for item in ITEM_NAMES.values()
        }
        for (signal, outcome, reason), value in items:
            entry = out.setdefault(ITEM_NAMES.get(signal, signal), {})
            if outcome in ("refused", "dropped") or reason:
                bucket = entry.setdefault(outcome, {"total": 0})
                assert isinstance(bucket, dict)
                bucket["total"] += value
                bucket[reason or "unknown"] = bucket.get(reason or "unknown", 0) + value
            else:
                entry[outcome] = int(entry.get(outcome, 0)) + value  # type: ignore[call-overload]
        return out

    def prometheus(self) -> str:
        """Prometheus text exposition (version 0.0.4) of every counter."""
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        for signal, item in ITEM_NAMES.items():
            for outcome in OUTCOMES:
                name = f"otelml_collector_{item}_{outcome}_total"
                lines.append(f"# HELP {name} {item.replace('_', ' ')} {_DESCRIPTIONS[outcome]}")
                lines.append(f"# TYPE {name} counter")
                rows = [(r, v) for (s, o, r), v in items if s == signal and o == outcome]
                if not rows and outcome in ("received", "forwarded"):
                    rows = [("", 0)]
                for reason, value in rows:
                    label = f'{{reason="{reason}"}}' if reason else ""
                    lines.append(f"{name}{label} {value}")
        name = "otelml_collector_requests_refused_total"
        lines.append(f"# HELP {name} requests refused before decoding (bad body, too large, wrong type)")
        lines.append(f"# TYPE {name} counter")
        for (signal, outcome, reason), value in items:
            if outcome == "refused_requests":
                lines.append(f'{name}{{signal="{signal}",reason="{reason}"}} {value}')
        return "\n".join(lines) + "\n"

    def register_instruments(self, meter_provider: MeterProvider) -> None:
        """Publish the counters as observable counters on `meter_provider`."""
        meter = meter_provider.get_meter("otelml_collector", __version__)
        for signal, item in ITEM_NAMES.items():
            for outcome in OUTCOMES:
                meter.create_observable_counter(
                    f"otelml_collector.{item}.{outcome}",
                    callbacks=[self._callback(signal, outcome)],
                    unit="{" + item.rstrip("s") + "}",
                    description=f"{item.replace('_', ' ')} {_DESCRIPTIONS[outcome]}",
                )
        meter.create_observable_counter(
            "otelml_collector.requests.refused",
            callbacks=[self._requests_callback],
            unit="{request}",
            description="whole requests refused before decoding (bad body, too large, wrong content type)",
        )

    def _requests_callback(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            rows = [(s, r, v) for (s, o, r), v in self._values.items() if o == "refused_requests"]
        return [Observation(v, {"signal": s, "reason": r}) for s, r, v in rows]

    def _callback(self, signal: str, outcome: str):  # type: ignore[no-untyped-def]
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                rows = [(r, v) for (s, o, r), v in self._values.items() if s == signal and o == outcome]
            if not rows and outcome in ("received", "forwarded"):
                rows = [("", 0)]
            return [Observation(v, {"reason": r} if r else {}) for r, v in rows]

        return observe


def build_providers(
    metrics_target: Target | None,
    logs_target: Target | None,
    *,
    export_interval_ms: int = 10_000,
    views: Sequence[View] = (),
    resource_attributes: dict[str, str] | None = None,
    extra_readers: Sequence[MetricReader] = (),
) -> tuple[MeterProvider, LoggerProvider]:
    """MeterProvider and LoggerProvider exporting over OTLP to the given targets (None: no export)."""
    attrs: dict[str, str] = {
        "service.name": "otelml-collector",
        "service.version": __version__,
        "service.instance.id": str(uuid.uuid4()),
    }
    attrs.update(resource_attributes or {})
    resource = Resource.create(attrs)
    readers: list[MetricReader] = list(extra_readers)
    if metrics_target is not None:
        exporter = _metric_exporter(metrics_target)
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=export_interval_ms))
    meter_provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        exemplar_filter=TraceBasedExemplarFilter(),
        views=list(views),
        shutdown_on_exit=False,
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    if logs_target is not None:
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(_log_exporter(logs_target), schedule_delay_millis=1000)
        )
    return meter_provider, logger_provider


def _metric_exporter(target: Target):  # type: ignore[no-untyped-def]
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=target.authority, **_grpc_options(target))
    from opentelemetry.exporter.otlp.proto.http import metric_exporter

    return metric_exporter.OTLPMetricExporter(endpoint=target.endpoint, **_http_options(target))


def _log_exporter(target: Target):  # type: ignore[no-untyped-def]
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=target.authority, **_grpc_options(target))
    from opentelemetry.exporter.otlp.proto.http import _log_exporter

    return _log_exporter.OTLPLogExporter(endpoint=target.endpoint, **_http_options(target))


def _grpc_options(target: Target) -> dict[str, Any]:
    """The SDK gRPC exporter's TLS, headers, timeout and compression, as the forwarding exporter's."""
    from grpc import Compression

    options: dict[str, Any] = {
        "insecure": target.insecure,
        "headers": target.headers,
        "timeout": target.timeout,
        "compression": Compression.Gzip if target.compression == "gzip" else Compression.NoCompression,
    }
    if not target.insecure:
        options["credentials"] = grpc_client_credentials(target.ca_file, target.cert_file, target.key_file)
    return options


def _http_options(target: Target) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression

    client = target.cert_file and target.key_file
    session = None
    if target.ca_file:  # else $REQUESTS_CA_BUNDLE would replace it (psf/requests#3829)
        import requests

        session = requests.Session()
        session.trust_env = False
    return {
        "session": session,
        "headers": target.headers,
        "timeout": target.timeout,
        "compression": Compression.Gzip if target.compression == "gzip" else Compression.NoCompression,
        "certificate_file": target.ca_file,
        "client_certificate_file": target.cert_file if client else None,
        "client_key_file": target.key_file if client else None,
    }


def env_interval_ms(default: int) -> int:
    """OTEL_METRIC_EXPORT_INTERVAL if set and valid, else `default` (logged when unparsable)."""
    raw = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL")
    if not raw:
        return default
    try:
        value = int(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    _log.warning("OTEL_METRIC_EXPORT_INTERVAL=%r is not a positive integer; using %d ms", raw, default)
    return default
