"""The `performance` processor: joins labels to predictions and scores windows of them.

Predictions come from `ml_extract`'s records (inference spans); labels from `label {model}` spans
(`ml.prediction.id`, `ml.label.value`, optional `ml.label.delay`), in any order, matched by the
sidecar's one `PredictionIndex` (shared with the `predictions` processor when both run): a label
whose prediction is not (yet) in a kept window waits up to `max_label_delay` among at most
`max_pending_labels` (then it is dropped and counted). Memory is bounded by configuration:
`max_windows` x `window.size` rows per model/version/segment value, `max_segment_values` values per
segment key, `max_pending_labels`. Windows, references and pending labels are checkpointed to the
state database every `checkpoint_interval` and at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from otelml.semconv import ML_MODEL_NAME, ML_MODEL_TASK, ML_MODEL_VERSION
from otelml_collector.bus import PERFORMANCE_WINDOWS
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.predstore.index import open_index, release_index
from otelml_collector.processors.performance.config import PerformanceConfig
from otelml_collector.processors.performance.metrics import (
    Calibration,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from otelml_collector.processors.performance.outputs import PerformanceEmitter, window_event
from otelml_collector.processors.performance.persist import Persistence, load_reference_file
from otelml_collector.processors.performance.windows import (
    ModelReference,
    Window,
    WindowKey,
    breach,
    estimate,
    evaluate,
    infer_task,
    is_positive,
    records_column,
    task_from_span,
    wrongest,
)
from otelml_collector.records import ModelBatch

__all__ = ["PerformanceProcessor", "load_reference_file"]

_log = logging.getLogger("otelml_collector.processors.performance")
TASK_MARKER = b"\x0a\x0dml.model.task"  # the key of an `ml.model.task` KeyValue as OTLP encodes it
TASK_LOOKS = 16  # requests of a model version searched for `ml.model.task` before giving up on it
OTHER = "__other__"
_TASK_KEYS = frozenset({ML_MODEL_NAME, ML_MODEL_VERSION, ML_MODEL_TASK})


class PerformanceProcessor(Persistence):
    def __init__(self, config: PerformanceConfig, ctx: ComponentContext) -> None:
        self.config = config
        self._ctx = ctx
        self.index = open_index(ctx.state)
        self._lock: threading.RLock = self.index.lock  # one lock: the index calls back into the windows
        self._windows: dict[WindowKey, deque[Window]] = {}
        self._index: dict[str, list[tuple[Window, int]]] = self.index.rows
        self._pending = self.index.pending  # labels waiting for their prediction
        self._refs: dict[tuple[str, str], ModelReference] = {}
        self._segment_values: dict[str, set[str]] = {key: set() for key in config.segments}
        self._file_ref = load_reference_file(config.baseline.path) if config.baseline.path else None
        self._emitter = PerformanceEmitter(ctx.meter_provider, ctx.logger_provider, ctx.log)
        self._counts = {
            "predictions": 0,
            "labels_joined": 0,
            "labels_wrong_type": 0,
            "labels_late": 0,
            "no_prediction_id": 0,
        }
        self._warned: set[str] = set()
        self._last_checkpoint = time.monotonic()
        self._emitted = False  # something was recorded since the last flush of the providers
        self._last_evaluation = 0.0
        self._joined: list[tuple[Window, int, float]] = []  # (window, row, delay s) of this request
        self._seq = 0
        self._span_tasks: dict[tuple[str, str], str | None] = {}
        """(model, version) -> `ml.model.task` of its inference spans; None once not found"""
        self._task_looks: dict[tuple[str, str], int] = {}
        self._restore()
        self.index.attach_reader(self, config.max_pending_labels, config.max_label_delay)

    @property
    def counts(self) -> dict[str, int]:
        index = self.index.counts
        return {**self._counts, **{k: index[k] for k in ("labels", "labels_pending", "labels_expired")}}

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._ctx.http_api is not None:
            self._ctx.http_api.add_get("/v1/performance", self.query)

    def shutdown(self) -> None:
        with self._lock:
            self._evaluate_dirty()
            self._emitter.flush()
            self.checkpoint()
        release_index(self.index)

    # -- the pipeline --------------------------------------------------------------------------------
    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal != Signal.TRACES:
            return request
        with self._lock:
            self._read_tasks(request)
            for batch in request.records:
                self._add(batch)
            if self._pending:  # after every batch: a prediction may have rows in several
                for batch in request.records:
                    self._claim(batch.prediction_id)
            self.index.join(request)
            if self._joined:
                self._emitter.delays(self._joined)
                self._joined.clear()
                self._emitted = True
            self.tick()
        return request

    def tick(self, now: float | None = None) -> None:
        """Close windows whose time is up, evaluate windows that changed, expire labels, checkpoint."""
        with self._lock:
            now = time.time() if now is None else now
            if self.config.window.seconds > 0:
                for windows in self._windows.values():
                    w = windows[-1]
                    if not w.closed and len(w) and now - w.opened_at >= self.config.window.seconds:
                        self._close(w)
            if now - self._last_evaluation >= self.config.evaluate_interval:
                self._evaluate_dirty()
                self._last_evaluation = now
            self.index.expire()
            if time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval:
                self.checkpoint()
            if self._emitted:
                self._emitted = False
                self._emitter.flush()

    def _evaluate_dirty(self) -> None:
        """Re-score windows whose labels changed; the gauges get the newest of them per key (an older
        window's value would make the series jump back), alerts may come from any."""
        for windows in self._windows.values():
            dirty = [w for w in windows if w.dirty]
            for w in dirty:
                self._publish(w, "realized", gauges=w is dirty[-1])

    def _read_tasks(self, request: TelemetryRequest) -> None:
        """`ml.model.task` (as the library sets it: classification | regression) of model versions whose
        task is not known yet: looked for in at most TASK_LOOKS requests of each (a bytes search; the
        request is decoded only when the attribute is there)."""
        unknown = {b.key for b in request.records if b.key not in self._span_tasks}
        if not unknown:
            return
        raw = request.unmodified_bytes()
        if raw is None or TASK_MARKER in raw:
            for rs in request.message.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {
                            kv.key: kv.value.string_value for kv in span.attributes if kv.key in _TASK_KEYS
                        }
                        key = (attrs.get(ML_MODEL_NAME, ""), attrs.get(ML_MODEL_VERSION, ""))
                        task = attrs.get(ML_MODEL_TASK)
                        if key in unknown and task:
                            self._span_tasks[key] = task
        for key in unknown - set(self._span_tasks):
            looks = self._task_looks[key] = self._task_looks.get(key, 0) + 1
            if looks >= TASK_LOOKS:
                self._span_tasks[key] = None

    # -- predictions ---------------------------------------------------------------------------------
    def _add(self, batch: ModelBatch) -> None:
        n = len(batch)
        if not n:
            return
        pids = batch.prediction_id
        tids, sids = batch.trace_id.tobytes(), batch.span_id.tobytes()
        values = records_column(batch.prediction_value, n)
        scores = records_column(batch.prediction_score, n)
        times = batch.time_unix_nano.tolist()
        rows = [i for i in range(n) if pids[i] is not None]
        self._counts["no_prediction_id"] += n - len(rows)
        self._counts["predictions"] += len(rows)
        groups: dict[WindowKey, list[int]] = {(batch.model, batch.version, "", ""): rows}
        for key in self.config.segments:
            column = batch.segments.get(key)
            if column is None:
                continue
            for i in rows:
                value = self._segment_value(key, column[i])
                if value is not None:
                    groups.setdefault((batch.model, batch.version, key, value), []).append(i)
        for wkey, members in groups.items():
            start = 0
            while start < len(members):
                w = self._open_window(wkey, times[members[start]])
                part = members[start : start + self.config.window.size - len(w)]
                start += len(part)
                base = len(w)
                w.pids += [pids[i] for i in part]
                w.trace_ids += [tids[16 * i : 16 * i + 16] for i in part]
                w.span_ids += [sids[8 * i : 8 * i + 8] for i in part]
                w.preds += [values[i] for i in part]
                w.scores += [scores[i] for i in part]
                w.labels += [None] * len(part)
                w.times += [times[i] for i in part]
                w.end_ns = max(w.end_ns, times[part[-1]])
                index = self._index
                for j, i in enumerate(part):
                    index.setdefault(pids[i], []).append((w, base + j))
                if len(w) >= self.config.window.size:
                    self._close(w)


    def _claim(self, pids: list[str | None]) -> None:
        """Join the waiting labels of predictions just added."""
        pending = self._pending
        for pid in pids:
            got = self.index.claim(pid) if pid in pending else None
            if got is not None and pid is not None and self.on_label(pid, self._index[pid], *got[:3]):
                self.index.held(pid, *got[1:])

    def _segment_value(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        seen = self._segment_values[key]
        text = str(value)
        if text in seen:
            return text
        if len(seen) < self.config.max_segment_values:
            seen.add(text)
            return text
        return OTHER

    def _open_window(self, key: WindowKey, first_ns: int) -> Window:
        windows = self._windows.get(key)
        if windows is None:
            windows = self._windows[key] = deque()
        if windows and not windows[-1].closed:
            return windows[-1]
        self._seq += 1
        w = Window(key, self._seq, first_ns, time.time())
        windows.append(w)
        while len(windows) > self.config.max_windows + 1:
            self._forget(windows.popleft())
        return w

    def _forget(self, old: Window) -> None:
        """Drop a window's rows from the index (the oldest window goes first, so its rows lead the lists)."""
        index = self._index
        segmented = bool(self.config.segments)
        gone = []
        for pid in old.pids:
            rows = index.get(pid)
            if rows is None:
                continue
            if len(rows) == 1 and rows[0][0] is old:
                gone.append(pid)
                continue
            while rows and rows[0][0] is old:
                del rows[0]
            if segmented:  # windows of other keys interleave in the list
                rows[:] = [r for r in rows if r[0] is not old]
            if not rows:
                gone.append(pid)
        self.index.release(gone)

    def _close(self, w: Window) -> None:
        w.closed = True
        ref = self._reference(w.key[0], w.key[1])
        if self._task(w.key[0], w.key[1], w) == "binary" and ref.calibration is not None:
            estimate(w, ref, self.config.positive_label)
            self._publish(w, "estimated")
        self._publish(w, "realized")

    # -- labels --------------------------------------------------------------------------------------
    def label_value(self, rows: list[tuple[Window, int]]) -> Any:
        w, j = rows[0]
        return w.labels[j]

    def on_label(
        self, pid: str, rows: list[tuple[Window, int]], value: Any, at_ns: int, delay: float | None
    ) -> bool:
        """A label of a prediction in a kept window (called by the index, under the lock)."""
        model, version = rows[0][0].key[:2]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number and self._task(model, version, rows[0][0]) == "regression":
            self._counts["labels_wrong_type"] += 1
            if f"type:{model}" not in self._warned:
                self._warned.add(f"type:{model}")
                _log.warning(
                    "performance: model %s is a regression but label %r of prediction %s is not a "
                    "number; such labels are counted (labels_wrong_type) and ignored",
                    model,
                    value,
                    pid,
                )
            return False
        self._counts["labels_joined"] += 1
        for w, j in rows:
            if w.labels[j] is None:
                w.label_count += 1
            w.labels[j] = value
            w.dirty = True
        w, j = rows[0]
        seconds = delay if delay is not None else max(0.0, (at_ns - w.times[j]) / 1e9)
        self._joined.append((w, j, seconds))
        if not self.config.baseline.warmup:
            return True
        ref = self._reference(model, version)
        if not ref.metrics and ref.source in ("", "warmup"):
            ref.warmup.append((w.preds[j], value, w.scores[j]))
            if len(ref.warmup) >= self.config.baseline.warmup:
                self._learn(model, version, ref)
        return True

    def _reference(self, model: str, version: str) -> ModelReference:
        ref = self._refs.get((model, version))
        if ref is None:
            ref = self._refs[(model, version)] = (
                replace(self._file_ref) if self._file_ref else ModelReference()
            )
        return ref

    def _task(self, model: str, version: str, w: Window) -> str:
        if self.config.task != "auto":
            return self.config.task
        ref = self._reference(model, version)
        if ref.task is None:
            labels = [v for v in w.labels if v is not None]
            guess = infer_task(
                w.preds, labels, any(s is not None for s in w.scores), self.config.positive_label
            )
            ref.task = task_from_span(self._span_tasks.get((model, version)), guess)
        return ref.task

    def _learn(self, model: str, version: str, ref: ModelReference) -> None:
        """Reference metrics (and score calibration) from the warm-up's labelled predictions."""

        preds, labels, scores = zip(*ref.warmup, strict=True)
        task = ref.task or self._task(model, version, self._windows[(model, version, "", "")][-1])
        pos = self.config.positive_label
        if task == "binary":
            y_true = np.array([is_positive(v, pos) for v in labels], dtype=np.int8)
            y_pred = np.array([is_positive(v, pos) for v in preds], dtype=np.int8)
            has_scores = all(s is not None for s in scores)
            score = np.asarray(scores, dtype=np.float64) if has_scores else None
            ref.metrics = binary_metrics(y_true, y_pred, score)
            if score is not None:
                ref.calibration = Calibration.fit_if_needed(score, y_true)
        elif task == "multiclass":
            ref.metrics = multiclass_metrics(
                np.array([str(v) for v in labels]), np.array([str(v) for v in preds])
            )
        else:
            ref.metrics = regression_metrics(np.asarray(labels, dtype=float), np.asarray(preds, dtype=float))
        ref.source, ref.warmup = "warmup", []
        _log.info(
            "performance: reference of %s version %s learned from warm-up: %s",
            model,
            version or "-",
            {k: round(v, 4) for k, v in ref.metrics.items()},
        )

    # -- evaluation and outputs ----------------------------------------------------------------------
    def _publish(self, w: Window, kind: str, gauges: bool = True) -> None:
        model, version = w.key[:2]
        ref = self._reference(model, version)
        task = self._task(model, version, w)
        if kind == "realized":
            evaluate(w, task, self.config.positive_label)
        values = w.estimated if kind == "estimated" else w.realized
        if not values:
            return
        rows: list[int] | None = None
        if gauges:
            rows = wrongest(w, task, self.config.positive_label, self.config.exemplars, ref)
            self._emitter.window(w, kind, values, rows)
            self._emitted = True
        if self._ctx.bus.has_subscribers(PERFORMANCE_WINDOWS):
            event = window_event(w, kind, values, rows, self.config.min_coverage)
            self._ctx.bus.publish(PERFORMANCE_WINDOWS, event)
        if kind == "realized" and w.coverage < self.config.min_coverage:
            return
        windows = self._windows.get(w.key, deque())
        prev = None
        for p in windows:
            if p.seq < w.seq and p.closed:
                prev = p
        for metric, threshold in self.config.thresholds.items():
            value, reference = values.get(metric), ref.metrics.get(metric)
            if value is None or reference is None:
                continue
            name = f"{kind}:{metric}"
            hit = breach(metric, value, reference, threshold)
            w.breached[name] = hit
            if hit and name not in w.breach_counted:
                w.breach_counted.add(name)
                if rows is None:
                    rows = wrongest(w, task, self.config.positive_label, self.config.exemplars, ref)
                self._emitter.breach(w, kind, metric, rows[0] if rows else None)
            if hit and name not in w.alerted:
                w.alerted.append(name)
                if not (prev is not None and prev.breached.get(name)):
                    if rows is None:
                        rows = wrongest(w, task, self.config.positive_label, self.config.exemplars, ref)
                    self._emitter.alert(
                        w, kind, metric, value, reference, threshold, rows[0] if rows else None
                    )
