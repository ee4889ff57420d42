"""The `quality` processor: the batch gate's expectations, run online on the ML records of inference spans.

Row checks (not_null, between, in_set, not_in_set, regex) run on every received batch with the very
check functions of `otelml.quality`; window checks (row_count, freshness, exists, type, unique,
mean/std/median/minimum/maximum/quantiles, drift) run when a model's window closes (`window.size` rows
kept or `window.seconds` after it opened, also without traffic — so `row_count: {min: ...}` notices a
model that went quiet).

Each violation adds to the counter `ml.data_quality.violations` {ml.model.name, ml.model.version,
ml.feature.name, ml.data_quality.expectation}; up to `exemplars` of the increments per check and batch
are recorded inside a NonRecordingSpan context of a violating prediction, so their exemplars carry its
trace id. A WARN log record (with that trace id) opens each burst: at most one per model/feature/check
per `alert_interval`, counting the violations since the previous one.

Open windows are checkpointed to the state store every `checkpoint_seconds` and at shutdown, and
restored at start (`persist`), as the drift processor does with its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelml.quality import CheckContext, Expectation, ExpectationResult, run_check, within_bounds
from otelml.semconv import normalize_feature_name
from otelml_collector.findings import Finding
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.quality.config import QualityConfig
from otelml_collector.processors.quality.persist import NS_WINDOW, window_from_json, window_to_json
from otelml_collector.records import ModelBatch, ModelKey
from otelml_collector.telemetry import SeverityNumber

__all__ = ["ROW_KINDS", "ModelSuite", "QualityProcessor", "frame_of"]

VIOLATIONS = "ml.data_quality.violations"
ROW_KINDS = frozenset({"not_null", "between", "in_set", "not_in_set", "regex"})
PREDICTION_COLUMNS = ("prediction.value", "prediction.score")
RECENT_ALERTS = 200  # alerts kept for `GET /v1/quality`
TIME_COLUMN = "span.time"  # Unix seconds of the inference span, for `freshness`


@dataclass
class ModelSuite:
    """The expectations of one model (from one file) and the baseline for its drift checks."""

    source: str
    expectations: list[Expectation]
    baseline: Any = None

    def __post_init__(self) -> None:
        self.row = [e for e in self.expectations if e.kind in ROW_KINDS]
        self.window = [e for e in self.expectations if e.kind not in ROW_KINDS]
        self.columns = sorted({e.column for e in self.expectations if e.column})


def frame_of(batch: ModelBatch, columns: list[str]) -> tuple[pd.DataFrame, set[str]]:
    """The batch as a DataFrame with the columns the expectations name (spans' feature names are
    normalised, so a column is also looked up by its normalised name); a column no span carried is all
    missing. Returns the frame and the columns that were really present."""
    data: dict[str, Any] = {}
    present: set[str] = set()
    n = len(batch)
    for col in columns:
        values = _column(batch, col)
        if values is None:
            values = _column(batch, normalize_feature_name(col))
        if values is None:
            data[col] = np.full(n, np.nan)
        else:
            data[col] = values
            present.add(col)
    return pd.DataFrame(data, copy=False), present


def _column(batch: ModelBatch, name: str) -> np.ndarray | None:
    if name in batch.numeric:
        return batch.numeric[name]
    if name in batch.categorical:
        return batch.categorical[name]
    if name == "prediction.value":
        return batch.prediction_value
    if name == "prediction.score":
        return batch.prediction_score
    if name == TIME_COLUMN:
        return batch.time_unix_nano / 1e9
    return None


@dataclass
class _Window:
    opened: float  # monotonic
    frames: list[pd.DataFrame] = field(default_factory=list)
    ids: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    kept: int = 0
    total: int = 0
    present: set[str] = field(default_factory=set)


@dataclass
class _Burst:
    last_log: float = -1e18
    pending: int = 0


class QualityProcessor:
    def __init__(self, config: QualityConfig, ctx: Any, suites: dict[str, ModelSuite]) -> None:
        """`suites` maps a model name (or "" = default) to its loaded expectations."""
        from otelml_collector import __version__

        self.config = config
        self._ctx = ctx
        self._log = ctx.log
        self._suites = suites
        self._lock = threading.Lock()
        self._windows: dict[ModelKey, _Window] = {}
        self._bursts: dict[tuple[str, str, str, str], _Burst] = {}
        self._findings: deque[Finding] = deque(maxlen=256)  # violations, newest last (for `findings`)
        self._warned: set[str] = set()
        self._totals: dict[tuple[str, str, str, str], list[int]] = {}  # -> [violations, last time ns]
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        meter = ctx.meter_provider.get_meter("otelml_collector.quality", __version__)
        self._violations = meter.create_counter(
            VIOLATIONS, unit="{violation}",
            description="Values violating a data-quality expectation (row checks), or failed window checks")
        self._logger = ctx.logger_provider.get_logger("otelml_collector.quality", __version__)
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None
        self._shutdown_done = False
        self._last_checkpoint = time.monotonic()
        self._dirty = False
        self.windows_closed = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if getattr(self._ctx, "http_api", None) is not None:
            self._ctx.http_api.add_get("/v1/quality", self.query)
        if not self._suites:
            self._log.warning("%s: no expectations file configured (processors.%s.expectations); nothing is "
                              "checked", self._ctx.name, self._ctx.name)
        self._restore()
        self._worker = threading.Thread(target=self._tick, name=f"otelml-{self._ctx.name}", daemon=True)
        self._worker.start()

    def shutdown(self) -> None:
        """Checkpoint the open windows (evaluated after the restart, when they close) and flush;
        idempotent."""
        if self._shutdown_done:
            return
        self._shutdown_done = True
        self._stopped.set()
        if self._worker is not None:
            self._worker.join(10)
        self.checkpoint()
        self._flush()

    def checkpoint(self) -> None:
        """Write the open windows to the state store (and forget the closed ones there)."""
        self._last_checkpoint = time.monotonic()
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            docs = {json.dumps(list(k)): window_to_json(w) for k, w in self._windows.items()}
        store = self._ctx.state
        with store.transaction():
            for k, _ in list(store.items(NS_WINDOW)):
                if k not in docs:
                    store.delete(NS_WINDOW, k)
            for k, doc in docs.items():
                store.put(NS_WINDOW, k, doc)

    def _restore(self) -> None:
        restored = 0
        for k, doc in self._ctx.state.items(NS_WINDOW):
            try:
                key = tuple(json.loads(k))
                if self.suite_for(key[0]) is None:
                    continue
                self._windows[key] = window_from_json(doc, lambda opened: _Window(opened=opened))
                restored += 1
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self._log.warning("quality: saved window %s does not load (%s); starting it afresh", k, exc)
        if restored:
            self._log.info("quality: restored %d open window(s) from %s", restored, self._ctx.state.file)

    def _tick(self) -> None:
        seconds = self.config.window.seconds
        period = max(0.05, min(1.0, seconds / 4 if seconds > 0 else 1.0, self.config.checkpoint_seconds))
        while not self._stopped.wait(period):
            try:
                now = time.monotonic()
                if now - self._last_checkpoint >= self.config.checkpoint_seconds:
                    self.checkpoint()
                with self._lock:
                    limit = self.config.window.seconds
                    due = [k for k, w in self._windows.items() if limit > 0 and now - w.opened >= limit]
                    for key in due:
                        self._close(key)
                        suite = self.suite_for(key[0])
                        if suite is not None and any(e.kind == "row_count" for e in suite.window):
                            # keep counting a model that went quiet: its next window may hold 0 rows
                            self._windows[key] = _Window(opened=now)
                if due:
                    self._flush()
            except Exception as exc:
                self._warn_once("tick", "quality: closing windows failed (%s); continuing", exc)

    # -- hot path ----------------------------------------------------------------------------------
    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal != Signal.TRACES or not request.records:
            return request
        try:
            with self._lock:
                for batch in request.records:
                    if len(batch):
                        self._consume(batch)
                        self._dirty = True
        except Exception as exc:
            self._warn_once("process", "quality: processing a request failed (%s); continuing", exc)
        return request

    def suite_for(self, model: str) -> ModelSuite | None:
        return self._suites.get(model) or self._suites.get("")

    def _consume(self, batch: ModelBatch) -> None:
        suite = self.suite_for(batch.model)
        if suite is None:
            return
        if batch.key not in self._windows and len(self._windows) >= self.config.max_models:
            self._warn_once("max_models", "quality: more than %d model versions; ignoring %s (raise "
                            "processors.quality.max_models)", self.config.max_models, batch.key)
            return
        frame, present = frame_of(batch, suite.columns)
        ids = (batch.trace_id, batch.span_id)
        ctx = CheckContext(baseline=suite.baseline, max_examples=1)
        for exp in suite.row:
            res = run_check(exp, frame, ctx)
            count = res.unexpected_count or (0 if res.success else 1)
            if count:  # within `mostly` the values still count, but only a failing check alerts
                self._violation(batch.key, exp, res, count, res.unexpected_positions, ids,
                                alert=not res.success)
        window = self._windows.get(batch.key)
        if window is None:
            window = self._windows[batch.key] = _Window(opened=time.monotonic())
        window.total += len(batch)
        window.present |= present
        room = self.config.window.size - window.kept
        if room > 0 and suite.window:
            take = min(room, len(batch))
            window.frames.append(frame.iloc[:take])
            window.ids.append((ids[0][:take], ids[1][:take]))
            window.kept += take
        if window.kept >= self.config.window.size:
            self._close(batch.key)  # exported by the sidecar's periodic readers: no flush on the hot path

    def _close(self, key: ModelKey) -> None:
        window = self._windows.pop(key, None)
        self._dirty = True
        suite = self.suite_for(key[0])
        if window is None or suite is None or not suite.window:
            return
        frame = pd.concat(window.frames, ignore_index=True) if window.frames else pd.DataFrame(
            {c: np.empty(0) for c in suite.columns})
        trace_ids = np.concatenate([t for t, _ in window.ids]) if window.ids else np.empty((0, 16), np.uint8)
        span_ids = np.concatenate([s for _, s in window.ids]) if window.ids else np.empty((0, 8), np.uint8)
        ctx = CheckContext(baseline=suite.baseline, max_examples=1)
        for exp in suite.window:
            if window.total == 0 and exp.kind not in ("row_count", "freshness"):
                continue  # an empty (quiet) window says nothing about the columns
            if exp.kind == "row_count":
                ok = within_bounds(window.total, exp.params)
                res = ExpectationResult(exp, ok, observed_value=window.total)
            elif exp.kind == "exists":
                found = exp.column in window.present
                res = ExpectationResult(exp, found, observed_value=found)
            elif exp.column and exp.column not in window.present and exp.kind != "freshness":
                continue  # no span carried the column: `exists` (if any) reports it, not every check
            else:
                res = run_check(exp, frame, ctx)
            if not res.success:
                positions = res.unexpected_positions
                if positions is None or not len(positions):
                    positions = np.arange(len(frame))[-1:]  # the newest prediction of the window
                self._violation(key, exp, res, res.unexpected_count or 1, positions, (trace_ids, span_ids))
        self.windows_closed += 1

    # -- outputs -----------------------------------------------------------------------------------
    def _violation(self, key: ModelKey, exp: Expectation, res: ExpectationResult, count: int,
                   positions: np.ndarray | None, ids: tuple[np.ndarray, np.ndarray],
                   alert: bool = True) -> None:
        attrs = {"ml.model.name": key[0], "ml.model.version": key[1], "ml.feature.name": exp.column or "",
                 "ml.data_quality.expectation": exp.ge_type or exp.kind}
        positions = positions if positions is not None else np.empty(0, dtype=np.int64)
        # Each exemplar is one increment of 1, so never more of them than violations.
        exemplar_rows = [int(p) for p in positions[: min(self.config.exemplars, count)] if p < len(ids[0])]
        for row in exemplar_rows:
            self._violations.add(1, attrs, context=_context(ids, row))
        if count > len(exemplar_rows):
            self._violations.add(count - len(exemplar_rows), attrs)
        ident = (*key, attrs["ml.feature.name"], attrs["ml.data_quality.expectation"])
        total = self._totals.setdefault(ident, [0, 0])
        total[0] += count
        total[1] = time.time_ns()
        traces = tuple(dict.fromkeys(bytes(ids[0][r]).hex() for r in exemplar_rows))
        detail = {"version": key[1], "feature": attrs["ml.feature.name"], "expectation": exp.label,
                  "violations": count}
        self._findings.append(Finding("data", "quality_violation", detail, traces, time.time_ns(),
                                    {"model": key[0]}))
        burst = self._bursts.setdefault((*key, attrs["ml.feature.name"], exp.kind), _Burst())
        burst.pending += count
        now = time.monotonic()
        if not alert or now - burst.last_log < self.config.alert_interval:
            return
        first = exemplar_rows[0] if exemplar_rows else None
        self._alert(key, exp, res, burst.pending, ids, first, attrs)
        burst.last_log, burst.pending = now, 0

    def _alert(self, key: ModelKey, exp: Expectation, res: ExpectationResult, count: int,
               ids: tuple[np.ndarray, np.ndarray], row: int | None, attrs: dict[str, str]) -> None:
        observed = res.to_dict()["observed_value"]
        example = f"; e.g. value {res.examples[0].value!r}" if res.examples else ""
        body = (f"data quality: model {key[0]} version {key[1] or '-'}: {exp.label} violated "
                f"({count} violation{'s' if count != 1 else ''}{example})")
        if res.message:
            body += f": {res.message}"
        attributes: dict[str, Any] = {**attrs, "ml.data_quality.violations": count,
                                      "ml.data_quality.observed": json.dumps(observed)}
        if exp.source:
            attributes["ml.data_quality.source"] = exp.source
        self._recent.append({
            "time_unix_nano": time.time_ns(), "model": key[0], "version": key[1],
            "feature": attrs["ml.feature.name"], "expectation": attrs["ml.data_quality.expectation"],
            "violations": count, "message": body,
            "trace_id": ids[0][row].tobytes().hex() if row is not None else None,
        })
        self._logger.emit(
            timestamp=time.time_ns(), context=_context(ids, row) if row is not None else None,
            severity_number=SeverityNumber.WARN, severity_text="WARN", body=body, attributes=attributes,
            event_name="ml.data_quality.violation",
        )

    def query(self, params: Any) -> dict[str, Any]:
        """`GET /v1/quality?model=`: violations per model/version/feature/expectation since start, and the
        last alerts (newest last, each with the trace id of a violating prediction)."""
        model = params.get("model")
        with self._lock:
            totals = list(self._totals.items())
            recent = list(self._recent)
        return {
            "violations": [
                {"model": m, "version": v, "feature": f, "expectation": e, "count": c, "last_unix_nano": t}
                for (m, v, f, e), (c, t) in sorted(totals) if model in (None, m)
            ],
            "alerts": [a for a in recent if model in (None, a["model"])],
        }
    def findings(self, model: str, since_unix_nano: int) -> list[Finding]:
        """Quality violations of `model` since `since_unix_nano`, newest 256 kept (`FindingSource`)."""
        return [f for f in list(self._findings)
                if f.extra.get("model") == model and f.first_seen_unix_nano >= since_unix_nano]

    def _flush(self) -> None:
        for provider in (self._ctx.meter_provider, self._ctx.logger_provider):
            try:
                provider.force_flush()
            except Exception as exc:
                self._warn_once("flush", "quality: flushing failed: %s", exc)

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg, *args, exc_info=key in ("process", "tick"))


def _context(ids: tuple[np.ndarray, np.ndarray], row: int) -> Any:
    sc = SpanContext(trace_id=int.from_bytes(ids[0][row].tobytes(), "big"),
                     span_id=int.from_bytes(ids[1][row].tobytes(), "big"),
                     is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return set_span_in_context(NonRecordingSpan(sc))
