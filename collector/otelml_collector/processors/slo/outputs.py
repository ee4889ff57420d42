"""What the `slo` processor emits: two observable gauges and one alert log record per incident.

`ml.slo.burn_rate` {ml.slo.name, ml.model.name, ml.slo.window} — the rate at which the objective spends
its error budget over each alert window (1 = exactly the budget over the period), and
`ml.slo.error_budget.remaining` {ml.slo.name, ml.model.name} — the share of the period's budget left
(1 = untouched; negative once overspent). Both are observed at each collection, so they are current
whether or not traffic flows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelml import semconv
from otelml_collector.telemetry import SeverityNumber

__all__ = [
    "BURN_RATE",
    "ERROR_BUDGET_REMAINING",
    "EVENT_NAME",
    "BadEvent",
    "Figures",
    "SloEmitter",
    "duration_text",
]

BURN_RATE = semconv.METRIC_ML_SLO_BURN_RATE
ERROR_BUDGET_REMAINING = semconv.METRIC_ML_SLO_ERROR_BUDGET_REMAINING
EVENT_NAME = semconv.EVENT_ML_SLO_ALERT


@dataclass
class BadEvent:
    """The most recent bad event of an objective: what an alert links to."""

    time: float
    trace_id: str = ""  # hex
    span_id: str = ""
    prediction_id: str = ""
    value: float | None = None  # the duration, freshness or metric value that made it bad

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Figures:
    """One objective's state at one instant."""

    name: str
    model: str
    indicator: str
    target: float
    threshold: float | None
    good: int  # over the period
    total: int
    budget_remaining: float
    windows: list[dict[str, Any]] = field(default_factory=list)  # per alert window: rates and counts
    firing: list[int] = field(default_factory=list)  # indexes of window pairs above their burn rate
    alerting: bool = False
    bad: BadEvent | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "indicator": self.indicator,
            "target": self.target,
            "threshold": self.threshold,
            "period": {"good": self.good, "total": self.total},
            "error_budget_remaining": self.budget_remaining,
            "windows": self.windows,
            "alerting": self.alerting,
            "last_bad_event": self.bad.to_json() if self.bad else None,
        }


def duration_text(seconds: float) -> str:
    """3600 -> "1h", 300 -> "5m", 2.5 -> "2.5s": the `ml.slo.window` attribute value."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def _context(bad: BadEvent | None) -> Any:
    if bad is None or not bad.trace_id or not bad.span_id:
        return None
    ctx = SpanContext(
        trace_id=int(bad.trace_id, 16),
        span_id=int(bad.span_id, 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return set_span_in_context(NonRecordingSpan(ctx))


class SloEmitter:
    def __init__(
        self,
        meter_provider: Any,
        logger_provider: Any,
        figures: Callable[[], list[Figures]],
        log: logging.Logger,
    ) -> None:
        from otelml_collector import __version__

        self._figures = figures
        self._logger_provider = logger_provider
        self._log = log
        meter = meter_provider.get_meter("otelml_collector.slo", __version__)
        meter.create_observable_gauge(
            BURN_RATE,
            callbacks=[self._burn_rates],
            unit="1",
            description="Error-budget burn rate of an SLO over an alert window (1 = exactly the budget)",
        )
        meter.create_observable_gauge(
            ERROR_BUDGET_REMAINING,
            callbacks=[self._budgets],
            unit="1",
            description="Share of the error budget left over the SLO period (1 = untouched, < 0 = overspent)",
        )
        self._logger = logger_provider.get_logger("otelml_collector.slo", __version__)

    def _burn_rates(self, options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for f in self._figures():
            seen: set[str] = set()
            for w in f.windows:
                for which in ("long", "short"):
                    label = w[which]["window"]
                    if label not in seen:
                        seen.add(label)
                        attrs = {"ml.slo.name": f.name, "ml.model.name": f.model, "ml.slo.window": label}
                        out.append(Observation(w[which]["burn_rate"], attrs))
        return out

    def _budgets(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(f.budget_remaining, {"ml.slo.name": f.name, "ml.model.name": f.model})
            for f in self._figures()
        ]

    def alert(self, f: Figures, version: str | None, now_ns: int) -> None:
        w = f.windows[f.firing[0]]
        long, short = w["long"], w["short"]
        what = {
            "latency": f"inference slower than {f.threshold:g}s",
            "errors": "failed inference",
            "freshness": f"feature lookups older than {f.threshold:g}s",
            "performance": f"performance windows below {f.threshold:g}",
        }[f.indicator]
        body = (
            f"SLO alert: objective {f.name} of model {f.model} burns its error budget "
            f"{long['burn_rate']:.3g}x over {long['window']} and {short['burn_rate']:.3g}x over "
            f"{short['window']} (alert at {w['burn_rate_threshold']:g}x): {long['bad']} of {long['total']} "
            f"events bad ({what}), target {f.target:.4g}; error budget left {f.budget_remaining:.1%}"
        )
        attributes: dict[str, Any] = {
            "ml.slo.name": f.name,
            "ml.model.name": f.model,
            "ml.slo.indicator": f.indicator,
            "ml.slo.target": f.target,
            "ml.slo.burn_rate": float(long["burn_rate"]),
            "ml.slo.burn_rate.short": float(short["burn_rate"]),
            "ml.slo.burn_rate.threshold": float(w["burn_rate_threshold"]),
            "ml.slo.window": long["window"],
            "ml.slo.window.short": short["window"],
            "ml.slo.error_budget.remaining": float(f.budget_remaining),
        }
        if f.threshold is not None:
            attributes["ml.slo.threshold"] = float(f.threshold)
        if version:
            attributes["ml.model.version"] = version
        if f.bad is not None and f.bad.prediction_id:
            attributes["ml.prediction.id"] = f.bad.prediction_id
        if f.bad is not None and f.bad.value is not None:
            attributes["ml.slo.value"] = float(f.bad.value)
        self._logger.emit(
            timestamp=now_ns,
            context=_context(f.bad),
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body=body,
            attributes=attributes,
            event_name=EVENT_NAME,
        )
        try:
            self._logger_provider.force_flush()
        except Exception as exc:  # a downstream outage must not stop the evaluation
            self._log.warning("slo: flushing the alert failed: %s", exc)
