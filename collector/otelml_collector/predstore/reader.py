"""`StoreReader`: what a processor that reads the prediction store on a timer shares with the others
(`canary`, `diagnose`): the store opened at start, a worker, and shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable

from otelml_collector import predstore
from otelml_collector.component import ComponentContext

__all__ = ["StoreReader"]


class StoreReader:
    """Opens the store at `start` (after every processor was created, so the `predictions` processor's
    retention and size options are the store's), warns when no `predictions` processor fills it, and
    calls `tick` every `interval` seconds on a worker thread until `stop`. A failing tick is logged
    (`what` names the work) and the worker goes on."""

    def __init__(self, ctx: ComponentContext, interval: float, tick: Callable[[], None], what: str) -> None:
        self._ctx = ctx
        self._interval = interval
        self._tick = tick
        self._what = what
        self.store: predstore.PredictionStore | None = None
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None

    def start(self) -> predstore.PredictionStore:
        self.store = predstore.open_store(self._ctx.state.file)
        if not any(n.split("/", 1)[0] == "predictions" for n in self._ctx.peers()):
            self._ctx.log.warning(
                "%s: no `predictions` processor: the prediction store stays empty, so span signals and "
                "stored calls are missing (add processors.predictions)", self._ctx.name,
            )
        self._worker = threading.Thread(target=self._run, name=f"otelml-{self._ctx.name}", daemon=True)
        self._worker.start()
        return self.store

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._tick()
            except Exception as exc:  # never let the worker die
                self._ctx.log.warning("%s: %s failed: %s", self._ctx.name, self._what, exc, exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
        if self._worker is not None:
            self._worker.join(10)
            self._worker = None
        if self.store is not None:
            predstore.release(self.store)
            self.store = None
