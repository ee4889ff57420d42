"""Checkpoints of the drift processor's state in the sidecar's StateStore, and restoring them.

Namespaces: `drift.baseline` (JSON), `drift.warmup` and `drift.window` (npz blobs), `drift.results`
(JSON of the last scores). Keys are JSON `[model, version]`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from otelml_collector.processors.drift.history import NS_HISTORY
from otelml_collector.processors.drift.outputs import DriftResult
from otelml_collector.processors.drift.window import ModelBaseline, OpenWindow, WarmupBuffer

__all__ = [
    "NS_BASELINE",
    "NS_RESULTS",
    "NS_WARMUP",
    "NS_WINDOW",
    "ModelState",
    "Persistence",
    "StateKey",
    "skey",
]

NS_BASELINE, NS_WARMUP, NS_WINDOW, NS_RESULTS = (
    "drift.baseline",
    "drift.warmup",
    "drift.window",
    "drift.results",
)


StateKey = tuple[str, ...]
"""(model, version) of a model version, or (model, version, segment key, segment value) of a segment."""


class ModelState:
    def __init__(self, key: StateKey) -> None:
        self.key = key
        self.baseline: ModelBaseline | None = None
        self.warmup: WarmupBuffer | None = None
        self.window: OpenWindow | None = None
        self.dirty = True


def skey(key: StateKey) -> str:
    return json.dumps(list(key))


class Persistence:
    """Mixin of `DriftProcessor`: writes and restores `_models`, `_results` and `_above`."""

    config: Any
    _ctx: Any
    _log: Any
    _lock: Any
    _models: dict[StateKey, ModelState]
    _results: dict[StateKey, list[DriftResult]]
    _above: set[tuple[str, ...]]
    _history: Any  # history.WindowHistory
    _last_checkpoint: float

    def _state_for(self, key: StateKey) -> ModelState | None:
        raise NotImplementedError  # the processor decides (max_models, configured baseline files)

    # -- persistence ----------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Write baselines, warm-up buffers and open windows of changed models to the state store."""
        self._last_checkpoint = time.monotonic()
        puts: list[tuple[str, str, Any]] = []
        deletes: list[tuple[str, str]] = []
        with self._lock:
            for state in self._models.values():
                if not state.dirty:
                    continue
                state.dirty = False
                k = skey(state.key)
                if state.baseline is not None:
                    puts.append((NS_BASELINE, k, state.baseline.to_json()))
                if state.warmup is not None:
                    puts.append((NS_WARMUP, k, state.warmup.to_blob()))
                else:
                    deletes.append((NS_WARMUP, k))
                if state.window is not None:
                    puts.append((NS_WINDOW, k, state.window.to_blob()))
                else:
                    deletes.append((NS_WINDOW, k))
        if not puts and not deletes:
            return
        store = self._ctx.state
        with store.transaction():
            for ns, k, v in puts:
                store.put(ns, k, v)
            for ns, k in deletes:
                store.delete(ns, k)

    def _restore(self) -> None:
        store = self._ctx.state
        rare = self.config.enrich.rare_fraction
        per_bin = self.config.exemplars.per_bin
        # model versions before their segments (a segment's state needs its model version's)
        for k, d in sorted(store.items(NS_BASELINE), key=lambda kv: len(json.loads(kv[0]))):
            key = tuple(json.loads(k))
            state = self._state_for(key)  # a configured baseline file wins over a stored one
            if state is not None and state.baseline is None:
                state.baseline = ModelBaseline.from_json(d)
                state.baseline.mark_rare(rare)
        for k, blob in store.items(NS_WARMUP):
            state = self._state_for(tuple(json.loads(k)))
            if state is not None and state.baseline is None:
                state.warmup = WarmupBuffer.from_blob(blob)
        for k, blob in store.items(NS_WINDOW):
            state = self._state_for(tuple(json.loads(k)))
            if state is None or state.baseline is None:
                continue
            try:
                state.window = OpenWindow.from_blob(blob, state.baseline, per_bin)
            except (ValueError, KeyError) as exc:
                self._log.warning(
                    "drift: saved window of %s does not fit its baseline (%s); starting afresh", k, exc
                )
        for k, rows in store.items(NS_RESULTS):
            key = tuple(json.loads(k))
            if len(key) == 4 and key[2] not in self.config.segments:
                continue
            results = [DriftResult.from_json(r) for r in rows]
            self._results[key] = results
            self._above.update(r.ident for r in results if r.drifted)
        for k, entries in store.items(NS_HISTORY):
            self._history.restore(tuple(json.loads(k)), entries)
        for state in self._models.values():
            state.dirty = False
        if self._models:
            self._log.info(
                "drift: restored state of %d model version(s) from %s", len(self._models), store.file
            )
