"""Outputs of the `performance` processor: gauges with exemplars, the label-delay histogram, alerts.

`ml.model.performance` {ml.model.name, ml.model.version, ml.performance.metric, ml.performance.kind,
ml.segment.<key>} is set once per wrongest prediction of the window inside a context whose span is that
prediction, so its exemplars carry their trace ids (as the drift gauges do); `ml.label.coverage` is
the labelled share of the window; `ml.label.delay` records each joined label's delay in seconds.
An alert is a WARN log record (event `ml.performance.alert`) in the context of a wrong prediction.
The counter `ml.performance.breaches` (attributes of `ml.model.performance`) adds one per window whose
metric is beyond its threshold, in the context of the wrongest prediction, so Prometheus (which keeps
no exemplars on gauges) holds the trace of the latest wrong prediction per model and metric.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelml_collector.bus import PerformanceWindow
from otelml_collector.predstore.queries import iso_time
from otelml_collector.processors.performance.windows import Window
from otelml_collector.telemetry import BulkHistogram, SeverityNumber, SparseExemplarReservoir

__all__ = [
    "BREACHES",
    "COVERAGE",
    "DELAY",
    "PERFORMANCE",
    "PerformanceEmitter",
    "performance_views",
    "window_event",
]

PERFORMANCE = "ml.model.performance"
COVERAGE = "ml.label.coverage"
DELAY = "ml.label.delay"
BREACHES = "ml.performance.breaches"


def performance_views(exemplars: int = 16) -> list[View]:
    def reservoir_factory(_aggregation_type: type) -> Any:
        return lambda **kw: SparseExemplarReservoir(size=exemplars, **kw)

    return [View(instrument_name=PERFORMANCE, exemplar_reservoir_factory=reservoir_factory)]


def _context(trace_id: bytes, span_id: bytes) -> Any:
    ctx = SpanContext(
        trace_id=int.from_bytes(trace_id, "big"),
        span_id=int.from_bytes(span_id, "big"),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return set_span_in_context(NonRecordingSpan(ctx))


def point_attributes(window: Window) -> dict[str, str]:
    model, version, seg_key, seg_value = window.key
    attrs = {"ml.model.name": model, "ml.model.version": version}
    if seg_key:
        attrs[f"ml.segment.{seg_key}"] = seg_value
    return attrs


class PerformanceEmitter:
    def __init__(self, meter_provider: Any, logger_provider: Any, log: logging.Logger) -> None:
        from otelml_collector import __version__

        meter = meter_provider.get_meter("otelml_collector.performance", __version__)
        self._performance = meter.create_gauge(
            PERFORMANCE, unit="1", description="Model performance per window (realized or estimated)"
        )
        self._coverage = meter.create_gauge(
            COVERAGE, unit="1", description="Share of a window's predictions labelled"
        )
        self._delay = BulkHistogram(
            meter.create_histogram(DELAY, unit="s", description="Delay from prediction to its label")
        )
        self._breaches = meter.create_counter(
            BREACHES, unit="{window}", description="Windows whose metric fell beyond its alert threshold"
        )
        self._logger = logger_provider.get_logger("otelml_collector.performance", __version__)
        self._providers = (meter_provider, logger_provider)
        self._log = log

    def delays(self, joined: list[tuple[Window, int, float]]) -> None:
        """Record label delays per series (model, version, segment): the first label of each series in
        the batch carries its prediction as exemplar, the rest are added in bulk (a record per label
        cost as much as the rest of the join)."""
        groups: dict[tuple[str, str, str, str], tuple[Window, int, list[float]]] = {}
        for window, row, seconds in joined:
            group = groups.get(window.key)
            if group is None:
                groups[window.key] = (window, row, [seconds])
            else:
                group[2].append(seconds)
        for window, row, values in groups.values():
            context = _context(window.trace_ids[row], window.span_ids[row])
            self._delay.record_many(values, point_attributes(window), context=context)

    def window(self, window: Window, kind: str, values: dict[str, float], exemplar_rows: list[int]) -> None:
        attrs = point_attributes(window)
        self._coverage.set(window.coverage, attrs)
        for metric, value in values.items():
            point = {**attrs, "ml.performance.metric": metric, "ml.performance.kind": kind}
            if exemplar_rows:
                for i in exemplar_rows:
                    self._performance.set(
                        value, point, context=_context(window.trace_ids[i], window.span_ids[i])
                    )
            else:
                self._performance.set(value, point)

    def breach(self, window: Window, kind: str, metric: str, row: int | None) -> None:
        point = {**point_attributes(window), "ml.performance.metric": metric, "ml.performance.kind": kind}
        context = _context(window.trace_ids[row], window.span_ids[row]) if row is not None else None
        self._breaches.add(1, point, context=context)

    def alert(
        self,
        window: Window,
        kind: str,
        metric: str,
        value: float,
        reference: float,
        threshold: float,
        row: int | None,
    ) -> None:
        attrs: dict[str, Any] = {
            **point_attributes(window),
            "ml.performance.metric": metric,
            "ml.performance.kind": kind,
            "ml.performance.value": float(value),
            "ml.performance.reference": float(reference),
            "ml.performance.threshold": float(threshold),
            "ml.performance.window.start": iso_time(window.start_ns) or "",
            "ml.performance.window.end": iso_time(window.end_ns) or "",
            "ml.performance.window.count": len(window),
            "ml.label.coverage": window.coverage,
        }
        if row is not None:
            attrs["ml.prediction.id"] = window.pids[row]
        model, version, seg_key, seg_value = window.key
        segment = f" segment {seg_key}={seg_value}" if seg_key else ""
        body = (
            f"performance alert: {kind} {metric} of model {model} version {version or '-'}{segment} = "
            f"{value:.4g}, reference {reference:.4g}, allowed drop {threshold:g} "
            f"({len(window)} predictions, {window.coverage:.0%} labelled)"
        )
        self._logger.emit(
            timestamp=window.end_ns,
            context=_context(window.trace_ids[row], window.span_ids[row]) if row is not None else None,
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body=body,
            attributes=attrs,
            event_name="ml.performance.alert",
        )

    def flush(self) -> None:
        for provider in self._providers:
            try:
                provider.force_flush()
            except Exception as exc:  # a downstream outage must not stop the evaluation
                self._log.warning("performance: flushing %s failed: %s", type(provider).__name__, exc)


def window_event(
    w: Window, kind: str, values: dict[str, float], rows: list[int] | None, min_coverage: float
) -> PerformanceWindow:
    """What the `performance` processor publishes on the bus for one evaluated window."""
    model, version, seg_key, seg_value = w.key
    return PerformanceWindow(
        window_id=f"{model}/{version}/{seg_key}={seg_value}/{w.seq}",
        model=model,
        version=version,
        segment={seg_key: seg_value} if seg_key else {},
        kind=kind,
        values=dict(values),
        n=len(w),
        coverage=w.coverage,
        min_coverage=min_coverage,
        end_unix_nano=w.end_ns or (w.times[-1] if w.times else w.start_ns),
        trace_id=w.trace_ids[rows[0]].hex() if rows else "",
    )
