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

import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from time import time_ns
from typing import Any

import numpy as np
from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import CallbackOptions
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
from opentelemetry.sdk.metrics._internal.aggregation import (
    _ExplicitBucketHistogramAggregation,
    _LastValueAggregation,
    _SumAggregation,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from otelml_collector import __version__
from otelml_collector.bus import ALERTS, Alert, EventBus
from otelml_collector.counters import ITEM_NAMES, Counters
from otelml_collector.downstream import Target, sdk_grpc_options, sdk_http_options
from otelml_collector.series import Series, SeriesBook, Snapshot

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
_SYNCHRONOUS = (Counter, UpDownCounter, Histogram, SdkGauge)
_KINDS = {
    _SumAggregation: "sum",
    _LastValueAggregation: "gauge",
    _ExplicitBucketHistogramAggregation: "histogram",
}


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

    `read()` answers the resource's attributes and `[(Stream, [Series, ...])]` (`otelml_collector.series`).
    A series whose synchronous instrument recorded nothing since the previous collection keeps its
    `Series` (same point, same stamp) instead of getting a new point: 20,000 drift gauges change once per
    window, and building their points on every scrape (and the garbage collections those objects caused)
    was most of a scrape's cost. That reads the SDK's aggregation state; with `incremental=False`, or a
    layout not recognised (logged once), every collection is the SDK's own, every series new.

    The SDK hands a reader each exemplar once, in the collection that follows its measurement, and
    other collections (a processor's `force_flush`) can come first; Prometheus scrapes later. So each
    series keeps, per histogram bucket, the newest exemplar it saw until the series disappears."""

    def __init__(self, incremental: bool = True) -> None:
        super().__init__(preferred_temporality={t: AggregationTemporality.CUMULATIVE for t in _INSTRUMENTS})
        self._book = SeriesBook()
        self._incremental = incremental

    def read(self) -> tuple[dict[str, Any], Snapshot]:
        """Collect now; the resource's attributes and every stream with its series (lists that a later
        collection replaces, never changes)."""
        with self._book.lock:
            self.collect()
            return self._book.resource, self._book.snapshot

    def collect(self, timeout_millis: float = 10_000) -> None:
        with self._book.lock:
            sdk = self._sdk() if self._incremental else None
            if sdk is None:
                super().collect(timeout_millis=timeout_millis)  # -> _receive_metrics
                return
            consumer, storage = sdk
            with consumer._lock:  # as the SDK's collect: observable callbacks first, then every stream
                options, sampler = CallbackOptions(), consumer._sdk_config.exemplar_filter
                for instrument in consumer._async_instruments:
                    for m in instrument.callback(options):
                        sample = sampler.should_sample(m.value, m.time_unix_nano, m.attributes, m.context)
                        storage.consume_measurement(m, sample)
                resource = dict(consumer._sdk_config.resource.attributes)
                self._book.store(self._walk(storage, time_ns()), resource)

    def _sdk(self) -> tuple[Any, Any] | None:
        """The SDK's measurement consumer and this reader's storage, or None (not registered, or a layout
        not recognised: then the SDK's own collection from now on)."""
        try:
            consumer = self._collect.__self__  # type: ignore[union-attr]
            storage = consumer._reader_storages[self]
            storage._instrument_view_instrument_matches, storage._instrument_class_temporality  # noqa: B018
            consumer._async_instruments, consumer._sdk_config.exemplar_filter  # noqa: B018
            return consumer, storage
        except (AttributeError, KeyError, TypeError) as exc:
            if self._collect is not None:
                self._incremental = False
                _log.info("/metrics: collecting every series each time (SDK layout not recognised: %r)", exc)
            return None

    def _walk(self, storage: Any, now: int) -> Iterator[tuple[Any, dict[Any, Series]]]:
        """(view-instrument match, {aggregation: series}) of every stream with points."""
        book = self._book
        with storage._lock:
            instruments = list(storage._instrument_view_instrument_matches.items())
        for instrument, matches in instruments:
            temporality = storage._instrument_class_temporality[instrument.__class__]
            sync = isinstance(instrument, _SYNCHRONOUS)
            for match in matches:
                with match._lock:
                    aggregations = list(match._attributes_aggregation.values())
                kind = _KINDS.get(type(aggregations[0])) if aggregations else None
                if kind is None:
                    continue
                monotonic = isinstance(instrument, Counter | ObservableCounter)
                description, unit = match._description or "", instrument.unit or ""
                stream = book.stream(match, match._name, description, unit, kind, monotonic)
                old, new = book.series(match), {}
                for agg in aggregations:
                    before = old.get(agg)
                    if before is not None and sync and _unchanged(agg, kind, before.marker):
                        new[agg] = before
                        continue
                    marker = agg._value if kind == "gauge" else None  # read before collecting: never newer
                    point = agg.collect(temporality, now)
                    if point is not None:
                        new[agg] = book.new(stream, point, before, marker)
                    elif before is not None:
                        new[agg] = before
                yield match, new

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is not None:
            with self._book.lock:
                self._book.from_metrics_data(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _unchanged(aggregation: Any, kind: str, marker: Any) -> bool:
    """Whether a synchronous instrument's aggregation recorded nothing since it was last collected:
    cumulative sums and histograms hold a pending delta (`_value`) until collected; a last value keeps
    the value object it was last set to."""
    if kind == "gauge":
        return aggregation._value is marker
    return aggregation._value is None


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

        return OTLPMetricExporter(endpoint=target.authority, **sdk_grpc_options(target))
    from opentelemetry.exporter.otlp.proto.http import metric_exporter

    return metric_exporter.OTLPMetricExporter(endpoint=target.endpoint, **sdk_http_options(target))


def _log_exporter(target: Target):  # type: ignore[no-untyped-def]
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=target.authority, **sdk_grpc_options(target))
    from opentelemetry.exporter.otlp.proto.http import _log_exporter

    return _log_exporter.OTLPLogExporter(endpoint=target.endpoint, **sdk_http_options(target))


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
