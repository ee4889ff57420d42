"""Per signal, a request accepted by a receiver waits in a bounded queue (`service.queue`) for one
worker thread that runs the pipeline's processors in order and hands the result to its exporters.
The queue is bounded in requests,
bytes and cells (attributes and array elements: what a request costs once processors decode it).
A pipeline without processors skips that queue and hands requests straight to the exporter; when
its sending queue is full the client is refused with a retry hint instead. A processor that raises
is logged (once per processor and error type) and skipped for that request: telemetry is never
lost to a processor bug.

When an exporter keeps its queue on disk (`sending_queue.storage`), a pipeline with processors
answers the client only after the processed request is committed to that queue (the receiver's
thread waits for it), so an acknowledged request survives a crash; with no room it is refused with
a retry hint before the processors see it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from otelml_collector.component import Exporter, Processor
from otelml_collector.counters import Counters
from otelml_collector.pipeline import Signal, TelemetryRequest

__all__ = ["SignalPipeline"]

_log = logging.getLogger("otelml_collector")
_MIB = 1024 * 1024


class SignalPipeline:
    """Bounded queue + one worker: processors in order, then every exporter."""

    def __init__(
        self,
        signal: Signal,
        processors: list[tuple[str, Processor]],
        exporters: list[Exporter],
        counters: Counters,
        max_requests: int,
        max_bytes: int,
        max_cells: int,
        retry_after: float,
    ) -> None:
        self.signal = signal
        self.processors = processors
        self.exporters = exporters
        self.counters = counters
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_cells = max_cells
        self.retry_after = retry_after
        self._queue: deque[tuple[TelemetryRequest, int, _Waiter | None]] = deque()
        self.durable: list[Any] = [e for e in exporters if getattr(e, "durable", False)]
        self._bytes = 0
        self._cells = 0  # of the requests queued and the one being processed
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.processor_errors: dict[str, int] = {}

    def start(self) -> None:
        if self.processors and self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name=f"otelml-pipeline-{self.signal}", daemon=True
            )
            self._thread.start()

    def submit(self, request: TelemetryRequest) -> float | None:
        if not self.processors:
            # Nothing has seen the request yet: if the only exporter's queue is full, refuse it with a
            # retry hint (the client keeps it) rather than accept and drop it.
            if len(self.exporters) == 1:
                try:
                    return None if self.exporters[0].offer(request) else self.retry_after
                except Exception:
                    self.counters.add(self.signal, "dropped", request.items, "internal_error")
                    _log.exception("exporter failed to take a %s request", self.signal)
                    return None
            return None if self._export(request) else self.retry_after
        size = len(request.raw) if request.raw is not None else request.message.ByteSize()
        waiter = _Waiter() if self.durable else None
        if waiter is not None and not all(e.has_room() for e in self.durable):
            return self.retry_after
        with self._cond:
            if (
                self._closing
                or len(self._queue) >= self.max_requests
                or (self._queue and self._bytes + size > self.max_bytes)
                or ((self._queue or self._busy) and self._cells + request.cells > self.max_cells)
            ):
                return self.retry_after
            self._queue.append((request, size, waiter))
            self._bytes += size
            self._cells += request.cells
            self._cond.notify()
        if waiter is None:
            return None
        waiter.done.wait()  # until the processed request is on disk (or refused)
        return None if waiter.stored else self.retry_after

    def depth(self) -> dict[str, int]:
        with self._cond:
            return {"requests": len(self._queue), "bytes": self._bytes, "cells": self._cells}

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                request, size, waiter = self._queue.popleft()
                self._bytes -= size
                self._busy = True
            try:
                stored = self._run(request)
                if waiter is not None:
                    waiter.stored = stored
            finally:
                if waiter is not None:
                    waiter.done.set()
                with self._cond:
                    self._busy = False
                    self._cells -= request.cells
                    self._cond.notify_all()

    def _run(self, request: TelemetryRequest) -> bool:
        for name, processor in self.processors:
            try:
                out = processor.process(request)
                if out is not None:
                    request = out
            except Exception as exc:
                self.processor_errors[name] = self.processor_errors.get(name, 0) + 1
                key = f"{name}:{type(exc).__name__}"
                if key not in self._warned:
                    self._warned.add(key)
                    _log.error(
                        "processor %s failed on a %s request; the request is forwarded without its "
                        "changes (logged once per error type)",
                        name,
                        self.signal,
                        exc_info=exc,
                    )
        return self._export(request)

    def _export(self, request: TelemetryRequest) -> bool:
        """Hand to every exporter; False when a durable one had no room (the client is refused)."""
        stored = True
        for exporter in self.exporters:
            try:
                if exporter in self.durable:
                    stored = exporter.offer(request) and stored
                else:
                    exporter.consume(request)
            except Exception:
                self.counters.add(self.signal, "dropped", request.items, "internal_error")
                _log.exception("exporter failed to take a %s request", self.signal)
        return stored

    def close(self, timeout: float) -> None:
        """Process what is queued (up to `timeout`s), then stop the worker."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            with self._cond:
                leftover = list(self._queue)
                self._queue.clear()
                self._cells -= sum(r.cells for r, _, _ in leftover)
            for request, _, waiter in leftover:
                if waiter is not None:
                    waiter.done.set()  # not stored: the client is refused and keeps it
                else:
                    self.counters.add(self.signal, "dropped", request.items, "shutdown")


class _Waiter:
    """A receiver thread waiting for its request to reach a durable sending queue."""

    __slots__ = ("done", "stored")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.stored = False
