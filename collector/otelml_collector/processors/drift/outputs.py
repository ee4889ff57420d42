"""Correlated outputs of a closed window: gauges with exemplars, alert log records, query results.

Gauges `ml.feature.drift` / `ml.prediction.drift` get one point per model/version/feature/method per
window. For a drifted feature the point is recorded once per exemplar prediction, each time inside a
context whose current span is that prediction (`NonRecordingSpan`, sampled), so the SDK's
trace-based exemplar filter attaches its trace/span id; `drift_views()` gives those instruments a
reservoir large enough to keep all of them and moves the offending value (`ml.drift.exemplar.value`)
from the point attributes into the exemplar's filtered attributes. Without those views the SDK keeps
one exemplar per point and the value attribute is not sent (it would split the series).

Prometheus keeps no exemplars on gauges, so the counter `ml.drift.detections` (same attributes) adds one
per closed window in which an alerting method flags the feature, in the context of its first exemplar
prediction: on `/metrics` its exemplar is the trace of the latest offending prediction.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelml_collector.telemetry import SeverityNumber, SparseExemplarReservoir

__all__ = [
    "ATTR_EXEMPLAR_VALUE",
    "DETECTIONS",
    "FEATURE_DRIFT",
    "PREDICTION_DRIFT",
    "DriftEmitter",
    "DriftResult",
    "Exemplar",
    "drift_views",
]

FEATURE_DRIFT = "ml.feature.drift"
PREDICTION_DRIFT = "ml.prediction.drift"
DETECTIONS = "ml.drift.detections"
POINT_KEYS = frozenset({"ml.model.name", "ml.model.version", "ml.feature.name", "ml.drift.method"})
ATTR_EXEMPLAR_VALUE = "ml.drift.exemplar.value"
SEGMENT_PREFIX = "ml.segment."


@dataclass(frozen=True)
class Exemplar:
    trace_id: bytes
    span_id: bytes
    value: float | str

    def to_json(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id.hex(), "span_id": self.span_id.hex(), "value": self.value}


@dataclass
class DriftResult:
    """One score of one closed window."""

    model: str
    version: str
    feature: str  # normalised feature name, or "prediction.value" / "prediction.score"
    kind: str  # "feature" | "prediction"
    method: str
    score: float
    threshold: float
    drifted: bool  # an alerting method's score beyond its threshold: the feature is flagged
    over_threshold: bool  # beyond the threshold (also for methods that only report)
    count: int
    window_start_ns: int
    window_end_ns: int
    exemplars: list[Exemplar] = field(default_factory=list)
    alert: bool = False  # the score crossed its threshold in this window (was below in the previous one)
    alerting: bool = True  # the method may raise alerts (drift.alert_methods); others only report
    segment: dict[str, str] = field(default_factory=dict)  # {key: value} of a segment's window, else {}

    def attributes(self) -> dict[str, str]:
        attrs = {
            "ml.model.name": self.model,
            "ml.model.version": self.version,
            "ml.feature.name": self.feature,
            "ml.drift.method": self.method,
        }
        for key, value in self.segment.items():
            attrs[SEGMENT_PREFIX + key] = value
        return attrs

    @property
    def ident(self) -> tuple[str, ...]:
        """What identifies a score series across windows (for alerting on crossing)."""
        segment = (part for kv in sorted(self.segment.items()) for part in kv)
        return (self.model, self.version, self.feature, self.method, *segment)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "feature": self.feature,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "over_threshold": self.over_threshold,
            "alerting": self.alerting,
            "segment": dict(self.segment),
            "window": {
                "start": _iso(self.window_start_ns),
                "end": _iso(self.window_end_ns),
                "start_unix_nano": self.window_start_ns,
                "end_unix_nano": self.window_end_ns,
                "count": self.count,
            },
            "exemplars": [e.to_json() for e in self.exemplars],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DriftResult:
        w = d["window"]
        return cls(
            model=d["model"],
            version=d["version"],
            feature=d["feature"],
            kind=d["kind"],
            method=d["method"],
            score=d["score"],
            threshold=d["threshold"],
            drifted=d["drifted"],
            over_threshold=d.get("over_threshold", d["drifted"]),
            alerting=d.get("alerting", True),
            segment=dict(d.get("segment") or {}),
            count=w["count"],
            window_start_ns=w["start_unix_nano"],
            window_end_ns=w["end_unix_nano"],
            exemplars=[
                Exemplar(bytes.fromhex(e["trace_id"]), bytes.fromhex(e["span_id"]), e["value"])
                for e in d["exemplars"]
            ],
        )


def drift_views(exemplars_per_point: int = 16, segments: tuple[str, ...] | list[str] = ()) -> list[View]:
    """Views for the sidecar's MeterProvider: keep `exemplars_per_point` exemplars per drift point and
    keep only the contract attributes on the point (with `ml.segment.<key>` for `drift.segments`)."""
    keys = set(POINT_KEYS) | {SEGMENT_PREFIX + key for key in segments}

    def reservoir_factory(_aggregation_type: type) -> Any:
        return lambda **kw: SparseExemplarReservoir(size=exemplars_per_point, **kw)

    return [
        View(
            instrument_name=name, attribute_keys=keys, exemplar_reservoir_factory=reservoir_factory
        )
        for name in (FEATURE_DRIFT, PREDICTION_DRIFT)
    ]


def _views_installed(meter_provider: Any) -> bool:
    try:
        views = meter_provider._sdk_config.views
        return any(getattr(v, "_instrument_name", None) == FEATURE_DRIFT for v in views)
    except AttributeError:
        return False


def _context_of(ex: Exemplar) -> Any:
    ctx = SpanContext(
        trace_id=int.from_bytes(ex.trace_id, "big"),
        span_id=int.from_bytes(ex.span_id, "big"),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return set_span_in_context(NonRecordingSpan(ctx))


@functools.lru_cache(maxsize=256)  # every result of a window formats the same two instants
def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DriftEmitter:
    """Writes closed-window results to the OTel SDK providers handed to the processor."""

    def __init__(self, meter_provider: Any, logger_provider: Any, log: logging.Logger) -> None:
        from otelml_collector import __version__

        self._meter_provider = meter_provider
        self._logger_provider = logger_provider
        meter = meter_provider.get_meter("otelml_collector.drift", __version__)
        self._gauges = {
            "feature": meter.create_gauge(
                FEATURE_DRIFT, unit="1", description="Drift statistic per model, version, feature and method"
            ),
            "prediction": meter.create_gauge(
                PREDICTION_DRIFT, unit="1", description="Drift statistic of the model output"
            ),
        }
        self._detections = meter.create_counter(
            DETECTIONS, unit="{window}",
            description="Windows in which an alerting method found the feature (or output) drifted",
        )  # fmt: skip
        self._logger = logger_provider.get_logger("otelml_collector.drift", __version__)
        self._with_values = _views_installed(meter_provider)
        self._log = log

    def emit(self, results: list[DriftResult]) -> None:
        """Record one point per result (with exemplars when drifted), an alert per crossing, then flush."""
        for r in results:
            gauge, attrs = self._gauges[r.kind], r.attributes()
            if r.exemplars:
                for ex in r.exemplars:
                    point = {**attrs, ATTR_EXEMPLAR_VALUE: ex.value} if self._with_values else attrs
                    gauge.set(r.score, point, context=_context_of(ex))
            else:
                gauge.set(r.score, attrs)
            if r.drifted:
                context = _context_of(r.exemplars[0]) if r.exemplars else None
                self._detections.add(1, attrs, context=context)
            if r.alert:
                self._alert(r)
        for provider in (self._meter_provider, self._logger_provider):
            try:
                provider.force_flush()
            except Exception as exc:  # a downstream outage must not stop the evaluation
                self._log.warning("drift: flushing %s failed: %s", type(provider).__name__, exc)

    def _alert(self, r: DriftResult) -> None:
        kind = "prediction" if r.kind == "prediction" else "feature"
        segment = "".join(f" segment {k}={v}" for k, v in r.segment.items())
        body = (
            f"drift alert: {kind} {r.feature} of model {r.model} version {r.version or '-'}{segment}: "
            f"{r.method} = {r.score:.4g} crossed threshold {r.threshold:g} "
            f"(window {_iso(r.window_start_ns)} .. {_iso(r.window_end_ns)}, {r.count} observations)"
        )
        attributes = {
            **r.attributes(),
            "ml.drift.score": float(r.score),
            "ml.drift.threshold": float(r.threshold),
            "ml.drift.window.start": _iso(r.window_start_ns),
            "ml.drift.window.end": _iso(r.window_end_ns),
            "ml.drift.window.count": r.count,
        }
        if r.exemplars:
            attributes["ml.drift.exemplar.trace_ids"] = [e.trace_id.hex() for e in r.exemplars]
        context = _context_of(r.exemplars[0]) if r.exemplars else None
        self._logger.emit(
            timestamp=r.window_end_ns,
            context=context,
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body=body,
            attributes=attributes,
            event_name="ml.drift.alert",
        )
