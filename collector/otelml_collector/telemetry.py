"""The sidecar's own telemetry: counters, and the OTel SDK providers that export them downstream.

`Counters` holds the pipeline's honest numbers (what was received, refused, forwarded, dropped, by
signal, reason, receiver/transport or exporter). They are plain integers under a lock on the hot path,
published as OTel observable counters (`otelml_collector.spans.received`, and the Collector's shapes
`otelml_collector_receiver_accepted_spans`, ...) and on `/v1/status`. With the process's CPU/RSS and the
exporters' queue size/capacity they reach `/metrics` like every other metric of the MeterProvider:
`PullMetricReader` collects on demand and `otelml_collector.prometheus` renders it.
`AlertCounter` turns the alerts every processor logs into the counter `ml.alerts`.

`build_providers()` creates the MeterProvider and LoggerProvider handed to every component in
`ComponentContext`: OTLP exporters to the downstream (same endpoint, protocol, headers, TLS files,
timeout and compression as the forwarding exporter), trace-based exemplar filter so a measurement
recorded inside a span context of a real prediction carries its trace/span id, plus any metric views
the configured factories ask for (`Factory.metric_views()`, optional). With an `EventBus`, every log
record of severity WARN or worse emitted through that LoggerProvider (an alert) is also published on
`bus.ALERTS` as a plain `bus.Alert`, so a component (the `webhook` exporter) can react to alerts
without OTel's private log API.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    SimpleFixedSizeExemplarReservoir,
    TraceBasedExemplarFilter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics import _Gauge as SdkGauge
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from otelml_collector import __version__
from otelml_collector.bus import ALERTS, Alert, EventBus
from otelml_collector.counters import ITEM_NAMES, Counters
from otelml_collector.downstream import Target
from otelml_collector.security import grpc_client_credentials

__all__ = [
    "ITEM_NAMES",
    "AlertCounter",
    "BulkHistogram",
    "Counters",
    "PullMetricReader",
    "SeverityNumber",
    "SparseExemplarReservoir",
    "build_providers",
]

_log = logging.getLogger("otelml_collector.telemetry")

_INSTRUMENTS = (
    Counter, UpDownCounter, Histogram, SdkGauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge,
)  # fmt: skip

class SparseExemplarReservoir(SimpleFixedSizeExemplarReservoir):
    """The SDK's fixed-size reservoir, answering a collection at once when nothing was offered since the
    last one. The drift and performance gauges keep 16 exemplars per point but receive them once per
    window; without this every collection (each scrape, each export) walked every point's buckets."""

    def __init__(self, size: int = 1, **kwargs: Any) -> None:
        super().__init__(size, **kwargs)
        self._offered = False

    def offer(self, value: float, time_unix_nano: int, attributes: Any, context: Any) -> None:
        super().offer(value, time_unix_nano, attributes, context)
        self._offered = True  # after storing: a collection that saw False finds the value next time

    def collect(self, point_attributes: Any) -> list[Any]:
        if not self._offered:
            return []
        self._offered = False
        return super().collect(point_attributes)


class PullMetricReader(MetricReader):
    """Cumulative metrics on demand (for `/metrics`), remembering the latest exemplar of each series.

    The SDK hands a reader each exemplar once, in the collection that follows its measurement, and
    other collections (a processor's `force_flush`) can come first; Prometheus scrapes later. So the
    reader keeps, per metric and point attributes (and histogram bucket), the newest exemplar it saw
    until the series disappears: a scrape always shows the trace of the latest offending prediction."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality={t: AggregationTemporality.CUMULATIVE for t in _INSTRUMENTS})
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._data: MetricsData | None = None
        self._latest: dict[tuple[str, frozenset[Any], int], Any] = {}

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is None:
            return
        with self._lock:
            self._data = metrics_data
            for metric in _exemplar_metrics(metrics_data):
                for point in metric.data.data_points:
                    for ex in point.exemplars or ():
                        key = (metric.name, frozenset(point.attributes.items()), _bucket(point, ex.value))
                        old = self._latest.get(key)
                        if old is None or ex.time_unix_nano >= old.time_unix_nano:
                            self._latest[key] = ex

    def read(self) -> tuple[MetricsData | None, dict[tuple[str, frozenset[Any], int], Any]]:
        """Collect now; the data and {(metric, point attributes, bucket index): latest exemplar} of the
        counters and histograms (the only places OpenMetrics allows exemplars)."""
        with self._reading:
            self.collect()
            with self._lock:
                data, self._data = self._data, None
                if data is not None and self._latest:
                    kept = {name for name, _, _ in self._latest}
                    live = {
                        (m.name, frozenset(p.attributes.items()))
                        for m in _exemplar_metrics(data) if m.name in kept for p in m.data.data_points
                    }  # fmt: skip
                    for key in [k for k in self._latest if k[:2] not in live]:
                        del self._latest[key]
                return data, dict(self._latest)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _exemplar_metrics(data: MetricsData) -> Iterable[Any]:
    """The metrics of `data` whose points may show exemplars: monotonic sums and histograms."""
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                data = metric.data
                if isinstance(data, HistogramData) or (isinstance(data, Sum) and data.is_monotonic):
                    yield metric


def _bucket(point: Any, value: float) -> int:
    """Index of the histogram bucket holding `value` (0 for points that are not histograms)."""
    bounds = getattr(point, "explicit_bounds", None)
    return bisect.bisect_left(bounds, value) if bounds is not None else 0


class AlertCounter(LogRecordProcessor):
    """Counts the alerts the sidecar's processors emit (log records of severity WARN or worse with an
    `ml.*` event name) as `ml.alerts` {event.name, ml.model.name, ...}, in the alert's context, so the
    counter's exemplar is the trace of the alert's exemplar prediction. Any processor's alerts count
    (drift, performance, quality, SLO) without its help."""

    LABEL_KEYS = (
        "ml.model.name", "ml.model.version", "ml.feature.name", "ml.drift.method", "ml.performance.metric",
        "ml.performance.kind", "ml.data_quality.expectation", "ml.slo.name",
    )  # fmt: skip

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("otelml_collector", __version__)
        self._counter = meter.create_counter(
            "ml.alerts", unit="{alert}", description="alerts the sidecar raised (WARN log records), by event"
        )

    def on_emit(self, log_record: Any) -> None:
        try:
            record = getattr(log_record, "log_record", log_record)
            event = getattr(record, "event_name", None) or ""
            severity = record.severity_number
            if not event.startswith("ml.") or severity is None or severity.value < SeverityNumber.WARN.value:
                return
            source = record.attributes or {}
            attrs = {"event.name": event}
            attrs.update({k: str(source[k]) for k in self.LABEL_KEYS if k in source})
            for key, value in source.items():
                if key.startswith("ml.segment."):
                    attrs[key] = str(value)
            self._counter.add(1, attrs, context=record.context)
        except Exception:  # counting must never lose the alert itself
            _log.exception("counting an alert failed")

    def emit(self, log_record: Any) -> None:  # older SDKs call `emit`
        self.on_emit(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def build_providers(
    metrics_target: Target | None,
    logs_target: Target | None,
    *,
    export_interval_ms: int = 10_000,
    views: Sequence[View] = (),
    resource_attributes: dict[str, str] | None = None,
    extra_readers: Sequence[MetricReader] = (),
    alert_bus: EventBus | None = None,
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
    logger_provider.add_log_record_processor(AlertCounter(meter_provider))
    if logs_target is not None:
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(_log_exporter(logs_target), schedule_delay_millis=1000)
        )
    if alert_bus is not None:
        logger_provider.add_log_record_processor(_AlertPublisher(alert_bus))
    return meter_provider, logger_provider


class _AlertPublisher(LogRecordProcessor):
    """Publishes WARN-or-worse records (alerts) on the bus; subscribers queue and return."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        severity = record.severity_number
        if severity is None or severity.value < SeverityNumber.WARN.value:
            return
        if not self._bus.has_subscribers(ALERTS):
            return
        trace_id, span_id = record.trace_id or 0, record.span_id or 0
        self._bus.publish(
            ALERTS,
            Alert(
                event_name=str(record.event_name or ""),
                severity=record.severity_text or severity.name,
                body=str(record.body) if record.body is not None else "",
                attributes={k: _plain(v) for k, v in (record.attributes or {}).items()},
                time_unix_nano=int(record.timestamp or record.observed_timestamp or 0),
                trace_id=f"{trace_id:032x}" if trace_id else "",
                span_id=f"{span_id:016x}" if span_id else "",
            ),
        )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


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


class BulkHistogram:
    """An SDK histogram that takes many values with the same attributes at once.

    `Histogram.record` costs ~5-10 µs per value in the SDK (measurement object, attribute copy and
    hash, exemplar filter), which was ~40 % of a label join. `record_many` records the first value
    through `record` (so it may carry an exemplar from `context`) and adds the others to the same
    aggregations in one step: bucket counts by `np.searchsorted` (= the SDK's `bisect_left`), sum, min
    and max. That reads SDK internals (explicit-bucket aggregations, found by their attributes), so it
    lives here; when they are not as expected (another aggregation, another SDK layout) every value
    goes through `record`, and tests compare both paths point for point."""

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self._found: dict[frozenset[tuple[str, Any]], tuple[Any, list[Any]]] = {}
        self.bulk = True  # False once the SDK layout was not recognised (logged once)

    def record_many(self, values: Sequence[float], attributes: dict[str, Any], context: Any = None) -> None:
        """Record `values` (those the SDK would take: finite, >= 0); the first with `context`."""
        x = np.asarray(values, dtype=np.float64)
        x = x[np.isfinite(x) & (x >= 0)]
        if not len(x):
            return
        self.histogram.record(float(x[0]), attributes, context=context)
        rest = x[1:]
        if not len(rest):
            return
        aggregations = self._aggregations(attributes) if self.bulk else None
        if aggregations is None:
            for v in rest.tolist():
                self.histogram.record(v, attributes)
            return
        total, low, high = float(rest.sum()), float(rest.min()), float(rest.max())
        for agg in aggregations:
            slots = np.searchsorted(agg._boundaries, rest, side="left")
            counts = np.bincount(slots, minlength=len(agg._boundaries) + 1).tolist()
            with agg._lock:
                if agg._value is None:
                    agg._value = agg._get_empty_bucket_counts()
                agg._value = [a + b for a, b in zip(agg._value, counts, strict=True)]
                agg._sum += total
                if agg._record_min_max:
                    agg._min = min(agg._min, low)
                    agg._max = max(agg._max, high)

    def _aggregations(self, attributes: dict[str, Any]) -> list[Any] | None:
        """The explicit-bucket aggregations of `attributes` in every reader (None: record one by one;
        an SDK layout not recognised turns the bulk path off for good)."""
        key = frozenset(attributes.items())
        try:
            storages = self.histogram._measurement_consumer._reader_storages
            found = self._found.get(key)
            if found is not None and found[0] is storages:
                return found[1]
            aggregations = []
            for storage in storages.values():
                for match in storage._instrument_view_instrument_matches.get(self.histogram, []):
                    keys = match._view._attribute_keys
                    wanted = {k: v for k, v in attributes.items() if keys is None or k in keys}
                    hits = [a for a in match._attributes_aggregation.values() if a._attributes == wanted]
                    if len(hits) != 1:
                        return None  # not recorded (e.g. a disabled instrument): nothing to add to
                    if not all(hasattr(hits[0], name) for name in _HISTOGRAM_STATE):
                        raise TypeError(f"{type(hits[0]).__name__} is no explicit-bucket histogram")
                    aggregations.append(hits[0])
        except (AttributeError, TypeError) as exc:
            self.bulk = False
            name = getattr(self.histogram, "name", "?")
            _log.info("histogram %s: recording value by value (%s)", name, exc)
            return None
        self._found[key] = (storages, aggregations)
        return aggregations


_HISTOGRAM_STATE = ("_boundaries", "_value", "_sum", "_min", "_max", "_lock", "_record_min_max")
