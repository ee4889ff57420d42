"""The `drift` processor: streaming drift per model version from the ML records of inference spans.

Hot path (`process`, under one lock, numpy per column): warm-up rows go to the warm-up buffer until
the baseline is learned; later rows go into the open window (bins counted by the stats core,
exemplar candidates sampled per bin); rows whose values the baseline (almost) never saw get their
span tagged with `ml.drift.features`. A window closes after `window.size` observations, or
`window.seconds` after it opened once it holds `window.min_samples`; closed windows are scored,
emitted and stored by a worker thread, which also checkpoints state to the StateStore.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from otelml import stats
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.drift.config import CATEGORICAL_METHODS, NUMERIC_METHODS, DriftConfig
from otelml_collector.processors.drift.enrich import tag_spans
from otelml_collector.processors.drift.history import NS_HISTORY, WindowHistory, window_entry
from otelml_collector.processors.drift.outputs import DriftEmitter, DriftResult, Exemplar
from otelml_collector.processors.drift.persist import NS_RESULTS, ModelState, Persistence, StateKey, skey
from otelml_collector.processors.drift.queries import DriftQueries
from otelml_collector.processors.drift.window import (
    ModelBaseline,
    OpenWindow,
    WarmupBuffer,
    columns_of,
    kind_of,
    take_rows,
)
from otelml_collector.records import ModelBatch, ModelKey

__all__ = ["OTHER", "DriftProcessor"]

OTHER = "__other__"  # the segment value of every value beyond `max_segment_values`


class DriftProcessor(Persistence, DriftQueries):
    def __init__(
        self, config: DriftConfig, ctx: Any, file_baselines: Mapping[tuple[str, str], ModelBaseline]
    ):
        self.config = config
        self._ctx = ctx
        self._log = ctx.log
        self._stats_config = _stats_config(config)
        self._file_baselines = dict(file_baselines)
        self._lock = threading.Lock()
        self._models: dict[StateKey, ModelState] = {}
        self._model_count = 0  # model versions among `_models` (the rest are their segment values)
        self._segment_values: dict[tuple[str, str, str], set[str]] = {}  # (model, version, key) -> values
        self._results: dict[StateKey, list[DriftResult]] = {}
        self._above: set[tuple[str, ...]] = set()  # DriftResult.ident of scores beyond threshold last window
        self._queue: queue.Queue[tuple[StateKey, OpenWindow] | None] = queue.Queue()
        self._history = WindowHistory()
        self._since: dict[tuple[str, ...], int] = {}  # start of the window an alert crossed in
        self._emitter = DriftEmitter(ctx.meter_provider, ctx.logger_provider, ctx.log)
        self._worker: threading.Thread | None = None
        self._stopped = threading.Event()
        self._shutdown_done = False
        self._warned: set[str] = set()
        self._last_checkpoint = time.monotonic()
        self.windows_closed = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._restore()
        if getattr(self._ctx, "http_api", None) is not None:
            self._ctx.http_api.add_get("/v1/drift", self.query)
            self._ctx.http_api.add_get("/v1/drift/history", self.history)
        self._worker = threading.Thread(target=self._run, name=f"otelml-{self._ctx.name}", daemon=True)
        self._worker.start()

    def shutdown(self) -> None:
        """Score the windows already closed, checkpoint open ones; idempotent."""
        if self._shutdown_done:
            return
        self._shutdown_done = True
        self._stopped.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(30)
        self._drain()
        self.checkpoint()

    # -- hot path -----------------------------------------------------------------------------
    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal != Signal.TRACES or not request.records:
            return request
        flags: dict[bytes, set[str]] = {}
        at: dict[int, tuple[bytes, set[str]]] | None = {}  # span offset -> (span id, names)
        try:
            with self._lock:
                for batch in request.records:
                    at = self._consume(batch, flags, at)
            if flags:
                tag_spans(request, flags, self.config.enrich.markers, at)
        except Exception as exc:  # never break the forwarding path
            self._warn_once(
                "process", "drift: processing a request failed (%s); continuing", exc, exc_info=True
            )
        return request

    def _consume(
        self, batch: ModelBatch, flags: dict[bytes, set[str]], at: dict[int, tuple[bytes, set[str]]] | None
    ) -> dict[int, tuple[bytes, set[str]]] | None:
        """Feed one batch to its model version and, per `segments` key, to each value's own state; flagged
        spans (of the model version's windows only) go to `flags` and, while every batch knows its span
        offsets, to `at` (returned; None once one does not)."""
        if len(batch) == 0:
            return at
        state = self._state_for(batch.key)
        if state is None:
            return at
        at = self._feed(state, batch, columns_of(batch), flags, at, self.config.enrich.enabled)
        for key in self.config.segments:
            column = batch.segments.get(key)
            if column is None:
                continue
            for value, rows in self._segment_rows(batch.key, key, column):
                seg_state = self._state_for((*batch.key, key, value))
                if seg_state is not None:
                    part = take_rows(batch, rows)
                    self._feed(seg_state, part, columns_of(part), flags, None, False)
        return at

    def _segment_rows(self, key: ModelKey, seg_key: str, column: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(value, rows) per segment value of a batch; values beyond `max_segment_values` per model
        version and key share OTHER; rows without the key belong to no segment."""
        seen = self._segment_values.setdefault((*key, seg_key), set())
        groups: dict[str, np.ndarray] = {}
        for value in set(column.tolist()):
            if value is None:
                continue
            text = str(value)
            if text not in seen:
                if len(seen) >= self.config.max_segment_values:
                    text = OTHER
                seen.add(text)
            mask = column == value
            groups[text] = groups[text] | mask if text in groups else mask
        return [(text, np.flatnonzero(mask)) for text, mask in groups.items()]

    def _feed(
        self,
        state: ModelState,
        batch: ModelBatch,
        cols: dict[str, np.ndarray],
        flags: dict[bytes, set[str]],
        at: dict[int, tuple[bytes, set[str]]] | None,
        enrich: bool,
    ) -> dict[int, tuple[bytes, set[str]]] | None:
        """Warm-up, then windows, of one state (a model version or one of its segment values)."""
        n = len(batch)
        lo = 0
        state.dirty = True
        if state.baseline is None:
            if state.warmup is None:
                state.warmup = WarmupBuffer(self.config.baseline.warmup)
            if len(cols) > self.config.max_features:
                self._warn_once(
                    f"features:{batch.key}",
                    "drift: model %s has more than %d columns; tracking the "
                    "first ones (raise processors.drift.max_features)",
                    batch.key,
                    self.config.max_features,
                )
                cols = dict(list(cols.items())[: self.config.max_features])
            lo = min(n, state.warmup.target - state.warmup.count)
            state.warmup.add(cols, 0, lo)
            if state.warmup.count < state.warmup.target:
                return at
            state.baseline = state.warmup.build(batch.model, batch.version, self._log)
            state.baseline.mark_rare(self.config.enrich.rare_fraction)
            state.warmup = None
            self._log.info(
                "drift: learned a baseline for model %s version %s%s from %d predictions",
                batch.model,
                batch.version or "-",
                "".join(f" segment {k}={v}" for k, v in zip(state.key[2::2], state.key[3::2], strict=True)),
                self.config.baseline.warmup,
            )
        size = self.config.window.size
        while lo < n:
            if state.window is None:
                state.window = OpenWindow(state.baseline, self.config.exemplars.per_bin, time.time_ns())
            w = state.window
            hi = min(n, lo + size - w.count)
            flagged = w.add(batch, cols, lo, hi, enrich)
            if flagged is not None:
                at = self._collect_flags(batch, w, flagged, lo, flags, at)
            lo = hi
            if w.count >= size:
                self._close(state)
        return at

    @staticmethod
    def _collect_flags(
        batch: ModelBatch,
        w: OpenWindow,
        flagged: np.ndarray,
        lo: int,
        flags: dict[bytes, set[str]],
        at: dict[int, tuple[bytes, set[str]]] | None,
    ) -> dict[int, tuple[bytes, set[str]]] | None:
        names = [name if kind_of(name) == "feature" else None for name in w.names]
        offsets = batch.span_offset
        if offsets is None:
            at = None
        for r in np.flatnonzero(flagged.any(axis=1)).tolist():
            hit = [name for j in np.flatnonzero(flagged[r]).tolist() if (name := names[j]) is not None]
            if hit:
                sid = batch.span_id[lo + r].tobytes()
                flags.setdefault(sid, set()).update(hit)
                if at is not None and offsets is not None:
                    at.setdefault(int(offsets[lo + r]), (sid, set()))[1].update(hit)
        return at

    def _state_for(self, key: StateKey) -> ModelState | None:
        state = self._models.get(key)
        if state is not None:
            return state
        if len(key) == 4:
            return self._segment_state(key)
        if self._model_count >= self.config.max_models:
            self._warn_once(
                "max_models",
                "drift: tracking %d model versions already; ignoring %s and further "
                "ones (raise processors.drift.max_models)",
                self.config.max_models,
                key,
            )
            return None
        self._model_count += 1
        state = self._models[key] = ModelState(key)
        baseline = self._file_baselines.get(key) or self._file_baselines.get((key[0], ""))
        if baseline is not None:
            state.baseline = ModelBaseline(key[0], key[1], baseline.profiles, baseline.source, baseline.rare)
        return state

    def _segment_state(self, key: StateKey) -> ModelState | None:
        """The state of one segment value of a model version: its baseline from the model version's file
        when the file has that segment value, else learned from the segment's own warm-up."""
        model, version, seg_key, value = key
        if seg_key not in self.config.segments or self._state_for((model, version)) is None:
            return None
        self._segment_values.setdefault((model, version, seg_key), set()).add(value)
        state = self._models[key] = ModelState(key)
        whole = self._file_baselines.get((model, version)) or self._file_baselines.get((model, ""))
        part = whole.segments.get((seg_key, value)) if whole is not None else None
        if part is not None and part.profiles:
            state.baseline = ModelBaseline(model, version, part.profiles, part.source, part.rare)
        return state

    def _close(self, state: ModelState) -> None:
        if state.window is not None:
            self._queue.put((state.key, state.window))
            state.window = None
            state.dirty = True

    # -- worker: scoring, emission, time-based closing, checkpoints ------------------------------
    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                item = None
            else:
                self._evaluate_item(item)
            try:
                self._close_expired()
                if time.monotonic() - self._last_checkpoint >= self.config.checkpoint_seconds:
                    self.checkpoint()
            except Exception as exc:
                self._warn_once("worker", "drift: worker step failed (%s); continuing", exc, exc_info=True)

    def _evaluate_item(self, item: tuple[StateKey, OpenWindow] | None) -> None:
        try:
            if item is not None:
                self._evaluate(*item)
        except Exception as exc:
            self._warn_once("evaluate", "drift: scoring a window failed (%s); continuing", exc, exc_info=True)
        finally:
            self._queue.task_done()

    def _drain(self) -> None:
        """Score every closed window (in this thread when the worker is gone)."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.join()
            return
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._evaluate_item(item)

    def _close_expired(self) -> None:
        seconds = self.config.window.seconds
        if seconds <= 0:
            return
        now = time.time_ns()
        minimum = self._stats_config.min_samples
        with self._lock:
            for state in self._models.values():
                w = state.window
                if w is not None and w.count >= minimum and now - w.opened_ns >= seconds * 1e9:
                    self._close(state)

    def flush(self) -> None:
        """Close every open window that can be scored and score it now (tests, shutdown tooling)."""
        with self._lock:
            for state in self._models.values():
                if state.window is not None and state.window.count >= self._stats_config.min_samples:
                    self._close(state)
        self._drain()

    def _evaluate(self, key: StateKey, w: OpenWindow) -> None:
        model, version = key[:2]
        segment = dict(zip(key[2::2], key[3::2], strict=True))
        features = [n for n in w.names if kind_of(n) == "feature"]
        results: list[DriftResult] = []
        all_scores = stats.evaluate_many(
            [w.baseline.profiles[name] for name in w.names],
            [w.windows[name] for name in w.names],
            self._stats_config,
            [len(features) if kind_of(name) == "feature" else 1 for name in w.names],
        )
        for name, scores in zip(w.names, all_scores, strict=True):
            alert_methods = self._stats_config.alert_methods_for(w.baseline.profiles[name])
            alerting = [s for s in scores if s.alert]
            exemplars: list[Exemplar] = []
            if alerting:
                top = alerting[0].top_bins[: self.config.exemplars.top_bins]
                exemplars = [Exemplar(*e) for e in w.exemplars(name, top, self.config.exemplars.per_point)]
            for s in scores:
                result = DriftResult(
                    model=model,
                    version=version,
                    feature=name,
                    kind=kind_of(name),
                    method=s.method,
                    score=float(s.value),
                    threshold=float(s.threshold),
                    drifted=s.alert,
                    over_threshold=s.drifted,
                    count=s.n,
                    window_start_ns=w.first_ns,
                    window_end_ns=w.last_ns,
                    exemplars=exemplars,
                    alerting=s.method in alert_methods,
                    segment=segment,
                )
                result.alert = s.alert and result.ident not in self._above
                (self._above.add if s.alert else self._above.discard)(result.ident)
                if s.alert:
                    self._since.setdefault(result.ident, w.first_ns)
                else:
                    self._since.pop(result.ident, None)
                results.append(result)
        if not results:
            self.windows_closed += 1
            self._log.info(
                "drift: window of %s %s closed with %d observations, below window.min_samples; no scores",
                model,
                version or "-",
                w.count,
            )
            return
        entry = window_entry(w, results)
        with self._lock:
            self._results[key] = results
            entries = self._history.add(key, entry)
        with self._ctx.state.transaction():
            self._ctx.state.put(NS_RESULTS, skey(key), [r.to_json() for r in results])
            self._ctx.state.put(NS_HISTORY, skey(key), entries)
        self._emitter.emit(results)
        self.windows_closed += 1

    def _warn_once(self, site: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        if site not in self._warned:
            self._warned.add(site)
            self._log.warning(msg, *args, exc_info=exc_info)


def _stats_config(config: DriftConfig) -> stats.DriftConfig:
    """The stats core's scoring config from `processors.drift` (methods, alert methods, thresholds)."""
    default = stats.DEFAULT_CONFIG
    methods = {"numeric": default.numeric_methods, "categorical": default.categorical_methods}
    alerts = {
        "numeric": tuple(getattr(default, "numeric_alert_methods", ("wasserstein",))),
        "categorical": tuple(getattr(default, "categorical_alert_methods", ("js",))),
    }
    applicable = {"numeric": NUMERIC_METHODS, "categorical": CATEGORICAL_METHODS}
    for kind in ("numeric", "categorical"):
        if config.methods is not None:
            methods[kind] = tuple(m for m in config.methods if m in applicable[kind])
            alerts[kind] = tuple(m for m in alerts[kind] if m in methods[kind]) or methods[kind]
        if config.alert_methods is not None:
            alerts[kind] = tuple(m for m in config.alert_methods if m in methods[kind])
    return stats.DriftConfig(
        numeric_methods=methods["numeric"],
        categorical_methods=methods["categorical"],
        numeric_alert_methods=alerts["numeric"],
        categorical_alert_methods=alerts["categorical"],
        thresholds=dict(config.thresholds),
        min_samples=config.window.min_samples or min(stats.DEFAULT_MIN_SAMPLES, config.window.size),
    )
