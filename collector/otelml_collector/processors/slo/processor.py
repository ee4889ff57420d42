"""The `slo` processor: service-level objectives on ML predictions, error budgets and burn-rate alerts.

Events: an `inference {model}` span is one event of each latency objective (good when its duration is
within the threshold) and each errors objective (good unless its status is ERROR) of its model; a
`feature_lookup` span with `ml.feature_view.freshness` is one event of each freshness objective (good
when the age is within the threshold); a performance window of the `performance` processor (via the
event bus, once its label coverage reaches that processor's `min_coverage` for realized values) is
one event of each performance objective (good when the metric is at or above its floor — at or below
for error metrics). Events are counted at the sidecar's clock when they arrive.

Alerts follow the SRE workbook's multi-window, multi-burn-rate rule: a window pair fires when the burn
rate over both its long and its short window exceeds its `burn_rate` (and the short window saw
`min_events`); an objective raises one alert when it starts firing and none until every pair has
stopped firing again (one page per incident).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from otelml_collector.bus import PERFORMANCE_WINDOWS, PerformanceWindow
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.slo.config import LOWER_IS_BETTER, Objective, SloConfig
from otelml_collector.processors.slo.ledger import Ledger
from otelml_collector.processors.slo.outputs import BadEvent, Figures, SloEmitter, duration_text

__all__ = ["SloProcessor"]

_log = logging.getLogger("otelml_collector.processors.slo")
_STATE = "slo.objective"
_ERROR = 2  # Status.STATUS_CODE_ERROR
_WANTED = {"ml.operation.name", "ml.model.name", "ml.model.version", "ml.prediction.id",
           "ml.feature_view.name", "ml.feature_view.freshness"}  # fmt: skip
_MAX_PERFORMANCE_WINDOWS = 4096


def _text(attrs: dict[str, Any], key: str) -> str:
    value = attrs.get(key)
    return value.string_value if value is not None else ""


class _Tracked:
    """One objective: its config, counts and incident state."""

    def __init__(self, objective: Objective, config: SloConfig) -> None:
        self.objective = objective
        shortest = min(w.short for w in config.alert_windows)
        longest = max(w.long for w in config.alert_windows)
        self.ledger = Ledger(shortest, longest, config.period)
        self.alerting = False
        self.alerts = 0
        self.bad: BadEvent | None = None

    def signature(self) -> list[Any]:
        o = self.objective
        return [o.model, o.version, o.indicator, o.threshold, o.target, o.metric, o.kind, self.ledger.shape()]


class SloProcessor:
    def __init__(
        self, config: SloConfig, ctx: ComponentContext, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._ctx = ctx
        self._clock = clock
        self._lock = threading.RLock()
        self._tracked = [_Tracked(o, config) for o in config.objectives]
        self._by_indicator: dict[str, list[_Tracked]] = {}
        for t in self._tracked:
            self._by_indicator.setdefault(t.objective.indicator, []).append(t)
        self._spans = bool(self._by_indicator.keys() & {"latency", "errors", "freshness"})
        self._perf_seen: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._last_evaluation = 0.0
        self._last_checkpoint = time.monotonic()
        self._unsubscribe: Callable[[], None] | None = None
        self.counts = {"spans": 0, "events": 0, "performance_windows": 0}
        self._emitter = SloEmitter(ctx.meter_provider, ctx.logger_provider, self._observe, ctx.log)
        self._restore()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if "performance" in self._by_indicator and self._unsubscribe is None:
            self._unsubscribe = self._ctx.bus.subscribe(PERFORMANCE_WINDOWS, self.on_performance_window)
        if self._ctx.http_api is not None:
            self._ctx.http_api.add_get("/v1/slo", self.query)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            self.checkpoint()

    # -- events --------------------------------------------------------------------------------------
    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal != Signal.TRACES or not self._tracked:
            return request
        if self._spans and self._may_hold_ml_spans(request):
            self._count_spans(request)
        self.tick()
        return request

    @staticmethod
    def _may_hold_ml_spans(request: TelemetryRequest) -> bool:
        raw = request.unmodified_bytes()
        return raw is None or b"inference" in raw or b"ml.feature_view.freshness" in raw

    def _count_spans(self, request: TelemetryRequest) -> None:
        now = self._clock()
        known = self._extracted(request)
        lookups: list[tuple[bytes, bytes, dict[str, Any]]] = []
        trace_models: dict[bytes, str] = {}
        tallies: dict[int, list[int]] = {}  # id(tracked) -> [good, total]
        with self._lock:
            for rs in request.message.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        hit = known.get(span.span_id)
                        if hit is not None:  # an inference span ml_extract read: no attribute walk
                            self.counts["spans"] += 1
                            trace_models[span.trace_id] = hit[0]
                            self._inference(span, *hit, now, tallies)
                            continue
                        if known and not span.name.startswith(("inference", "feature_lookup")):
                            continue
                        attrs = {kv.key: kv.value for kv in span.attributes if kv.key in _WANTED}
                        op = attrs.get("ml.operation.name")
                        if op is None:
                            continue
                        self.counts["spans"] += 1
                        if op.string_value == "inference":
                            model = _text(attrs, "ml.model.name")
                            trace_models[span.trace_id] = model
                            version, pid = _text(attrs, "ml.model.version"), _text(attrs, "ml.prediction.id")
                            self._inference(span, model, version, pid, now, tallies)
                        elif op.string_value == "feature_lookup" and "ml.feature_view.freshness" in attrs:
                            lookups.append((span.trace_id, span.span_id, attrs))
            for trace_id, span_id, attrs in lookups:
                self._lookup(trace_id, span_id, attrs, trace_models.get(trace_id), now, tallies)
            for t in self._tracked:
                tally = tallies.get(id(t))
                if tally is not None:
                    t.ledger.add(now, tally[0], tally[1])
                    self.counts["events"] += tally[1]

    @staticmethod
    def _extracted(request: TelemetryRequest) -> dict[bytes, tuple[str, str, str]]:
        """span id -> (model, version, prediction id) of the inference spans `ml_extract` read."""
        index: dict[bytes, tuple[str, str, str]] = {}
        for batch in request.records or ():
            ids = batch.span_id.tobytes()
            pids = batch.prediction_id
            for i in range(len(batch)):
                index.setdefault(ids[8 * i : 8 * i + 8], (batch.model, batch.version, pids[i] or ""))
        return index

    def _inference(
        self, span: Any, model: str, version: str, pid: str, now: float, tallies: dict[int, list[int]]
    ) -> None:
        duration = max(0, span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
        failed = span.status.code == _ERROR
        for indicator, value in (("latency", duration), ("errors", None)):
            for t in self._by_indicator.get(indicator, ()):
                o = t.objective
                if o.model != model or (o.version is not None and o.version != version):
                    continue
                good = not failed if indicator == "errors" else duration <= o.limit
                self._tally(t, good, tallies, now, span.trace_id, span.span_id, pid, value)

    def _lookup(
        self,
        trace_id: bytes,
        span_id: bytes,
        attrs: dict[str, Any],
        model: str | None,
        now: float,
        tallies: dict[int, list[int]],
    ) -> None:
        value = attrs["ml.feature_view.freshness"]
        age = value.double_value if value.HasField("double_value") else float(value.int_value)
        view = attrs["ml.feature_view.name"].string_value if "ml.feature_view.name" in attrs else ""
        for t in self._by_indicator.get("freshness", ()):
            o = t.objective
            if (o.feature_view is not None and o.feature_view != view) or (
                model is not None and model != o.model
            ):
                continue
            pid = _text(attrs, "ml.prediction.id")
            self._tally(t, age <= o.limit, tallies, now, trace_id, span_id, pid, age)

    def _tally(
        self,
        t: _Tracked,
        good: bool,
        tallies: dict[int, list[int]],
        now: float,
        trace_id: bytes,
        span_id: bytes,
        pid: str,
        value: float | None,
    ) -> None:
        tally = tallies.setdefault(id(t), [0, 0])
        tally[1] += 1
        if good:
            tally[0] += 1
            return
        t.bad = BadEvent(now, trace_id.hex(), span_id.hex(), pid, value)

    def on_performance_window(self, event: PerformanceWindow) -> None:
        """A performance window was (re-)scored: count it once, at the time it was first counted."""
        if event.kind == "realized" and event.coverage < event.min_coverage:
            return
        with self._lock:
            now = self._clock()
            for t in self._by_indicator.get("performance", ()):
                o = t.objective
                if o.model != event.model or o.kind != event.kind or event.segment:
                    continue
                if o.version is not None and o.version != event.version:
                    continue
                value = event.values.get(o.metric or "")
                if value is None:
                    continue
                good = value <= o.limit if o.metric in LOWER_IS_BETTER else value >= o.limit
                key = (o.name, event.window_id)
                previous = self._perf_seen.pop(key, None)
                at = now if previous is None else previous[0]
                if previous is not None:
                    t.ledger.add(at, -previous[1], -1)
                t.ledger.add(at, int(good), 1)
                self._perf_seen[key] = (at, int(good))
                while len(self._perf_seen) > _MAX_PERFORMANCE_WINDOWS:
                    self._perf_seen.popitem(last=False)
                if not good:
                    t.bad = BadEvent(now, event.trace_id, "", "", value)
                self.counts["performance_windows"] += 1
            self.tick()

    # -- evaluation ----------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Evaluate the alert rules (at most every `evaluate_interval`) and checkpoint when due."""
        with self._lock:
            now = self._clock() if now is None else now
            if now - self._last_evaluation >= self.config.evaluate_interval:
                self._last_evaluation = now
                self.evaluate(now)
            if time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval:
                self.checkpoint()

    def evaluate(self, now: float | None = None) -> list[Figures]:
        """Burn rates and budgets of every objective; alert on the objectives that started firing."""
        with self._lock:
            now = self._clock() if now is None else now
            out = []
            for t in self._tracked:
                f = self._figures(t, now)
                if f.firing and not t.alerting:
                    t.alerting = f.alerting = True
                    t.alerts += 1
                    self._emitter.alert(f, t.objective.version, int(now * 1e9))
                elif not f.firing and t.alerting:
                    t.alerting = f.alerting = False
                    _log.info("slo: objective %s is no longer burning its error budget too fast", f.name)
                out.append(f)
            return out

    def _figures(self, t: _Tracked, now: float) -> Figures:
        o = t.objective
        allowed = 1.0 - o.target
        windows, firing = [], []
        for i, w in enumerate(self.config.alert_windows):
            entry: dict[str, Any] = {"burn_rate_threshold": w.burn_rate}
            for which, seconds in (("long", w.long), ("short", w.short)):
                good, total = t.ledger.window(now, seconds)
                rate = (total - good) / total / allowed if total else 0.0
                entry[which] = {
                    "window": duration_text(seconds),
                    "seconds": seconds,
                    "total": total,
                    "bad": total - good,
                    "burn_rate": rate,
                }
            if (
                entry["long"]["burn_rate"] > w.burn_rate
                and entry["short"]["burn_rate"] > w.burn_rate
                and entry["short"]["total"] >= self.config.min_events
            ):
                firing.append(i)
            entry["firing"] = i in firing
            windows.append(entry)
        good, total = t.ledger.period(now)
        remaining = 1.0 - (total - good) / (total * allowed) if total else 1.0
        bad = (
            t.bad
            if t.bad is not None and now - t.bad.time <= max(w.long for w in self.config.alert_windows)
            else None
        )
        return Figures(
            o.name,
            o.model,
            o.indicator,
            o.target,
            o.threshold,
            good,
            total,
            remaining,
            windows,
            firing,
            t.alerting,
            bad,
        )

    def _observe(self) -> list[Figures]:
        with self._lock:
            now = self._clock()
            return [self._figures(t, now) for t in self._tracked]

    def query(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """GET /v1/slo[?model=&name=] -> {"objectives": [...]}"""
        model, name = params.get("model"), params.get("name")
        figures = [
            f
            for f in self._observe()
            if (model is None or f.model == model) and (name is None or f.name == name)
        ]
        with self._lock:
            alerts = {t.objective.name: t.alerts for t in self._tracked}
        return 200, {
            "period_seconds": self.config.period,
            "objectives": [{**f.to_json(), "alerts": alerts[f.name]} for f in figures],
        }

    # -- state ---------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        self._last_checkpoint = time.monotonic()
        try:
            with self._ctx.state.transaction():
                for t in self._tracked:
                    t.ledger.prune(self._clock())
                    self._ctx.state.put(
                        _STATE,
                        t.objective.name,
                        {
                            "signature": t.signature(),
                            "ledger": t.ledger.to_json(),
                            "alerting": t.alerting,
                            "alerts": t.alerts,
                            "bad": t.bad.to_json() if t.bad else None,
                        },
                    )
        except Exception as exc:  # a full disk must not stop the pipeline
            _log.warning("slo: checkpoint failed: %s", exc)

    def _restore(self) -> None:
        for t in self._tracked:
            try:
                saved = self._ctx.state.get(_STATE, t.objective.name)
            except Exception as exc:
                _log.warning(
                    "slo: objective %s: saved state not readable, starting empty: %s", t.objective.name, exc
                )
                continue
            if not isinstance(saved, dict):
                continue
            if saved.get("signature") != t.signature():
                _log.info(
                    "slo: objective %s changed since the last run; its error budget starts over",
                    t.objective.name,
                )
                continue
            try:
                t.ledger.restore(saved["ledger"])
                t.alerting, t.alerts = bool(saved["alerting"]), int(saved["alerts"])
                t.bad = BadEvent(**saved["bad"]) if saved.get("bad") else None
            except (KeyError, TypeError, ValueError) as exc:
                _log.warning(
                    "slo: objective %s: saved state damaged, starting empty: %s", t.objective.name, exc
                )
                t.ledger = Ledger(t.ledger.fine.width * 20, t.ledger.fine.span, self.config.period)
