"""The `otlp` exporter: forwards traces, metrics and logs to the downstream OTLP endpoint.

Requests wait in a bounded queue (count and bytes) served by worker threads. A failed export is
retried with exponential backoff and jitter (tenacity) while the error is retryable (gRPC
UNAVAILABLE, RESOURCE_EXHAUSTED, ...; HTTP 429/502/503/504; connection errors), honouring the
server's RetryInfo / Retry-After, for at most `retry_on_failure.max_elapsed_time`. Every item ends
up counted as `forwarded` or `dropped` with a reason (`queue_full`, `retries_exhausted`,
`rejected` (permanent error), `downstream_partial`, `shutdown`, `no_downstream`); each reason is
also logged once with its count so far.

With `sending_queue.storage` naming a `file_storage` extension the queue is a SQLite database on
disk (`extensions.file_storage`): `offer` returns once the request is committed there, a request
leaves the database only when delivered or given up for good, and what is left at shutdown (or at
a crash) is sent on the next start; the bounds then count every request on disk, including those
being sent.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay

from otelml_collector.component import ComponentContext
from otelml_collector.downstream import Target
from otelml_collector.exporters.otlp.config import OtlpExporterConfig
from otelml_collector.exporters.otlp.senders import ExportError, make_sender
from otelml_collector.extensions.file_storage import DiskQueue, FileStorage, QueuedRequest
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.telemetry import Counters

__all__ = ["OtlpExporter"]

_MIB = 1024 * 1024


@dataclass
class _Item:
    signal: Signal
    payload: bytes
    items: int
    entry: QueuedRequest | None = None  # its row in the disk queue


class OtlpExporter:
    def __init__(self, config: OtlpExporterConfig, ctx: ComponentContext) -> None:
        self.config = config
        self.ctx = ctx
        self.counters: Counters = ctx.settings.get("counters") or Counters()
        self.targets = config.targets()
        own = set(ctx.settings.get("own_endpoints", ()))
        # An unconfigured downstream would be the SDK default localhost:4317 - usually this sidecar itself.
        self.disabled = {s for s, t in self.targets.items() if not t.explicit and _points_at(t, own)}
        self._queue: deque[_Item] = deque()
        self._bytes = 0
        self._disk: DiskQueue | None = None
        storage = config.sending_queue.storage
        if storage is not None:
            extension = ctx.extensions.get(storage)
            if not isinstance(extension, FileStorage):
                raise ValueError(f"exporters.{ctx.name}.sending_queue.storage: {storage!r} is not running")
            self._disk = extension.queue(f"exporter_{ctx.name}")
        self.durable = self._disk is not None
        self._reserved = (0, 0)  # requests and bytes being written to the disk queue
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._senders: dict[tuple[int, Signal], Any] = {}
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._started = False
        self._closed = False
        self._log = ctx.log.getChild(f"exporter.{ctx.name}")
        self._warned: dict[str, int] = {}
        self.in_flight = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for signal in sorted(self.disabled):
            self._log.warning(
                "no downstream configured for %s (set exporters.%s.endpoint or "
                "OTEL_EXPORTER_OTLP_ENDPOINT); %s are not forwarded",
                signal,
                self.ctx.name,
                signal,
            )
        if self._disk is not None and self._disk.recovered:
            self._log.info(
                "%d requests left on disk by the previous run (%s) will be sent",
                self._disk.recovered,
                self._disk.file,
            )
        for i in range(self.config.sending_queue.num_consumers):
            t = threading.Thread(target=self._work, args=(i,), name=f"otelml-export-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver what is queued within `timeout` seconds, drop (and count) the rest. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._deadline = time.monotonic() + timeout
            self._stop.set()
            self._cond.notify_all()
        for t in self._threads:
            t.join(max(0.1, self._deadline - time.monotonic()) + 2)
        with self._cond:
            leftover = list(self._queue)
            self._queue.clear()
            self._bytes = 0
        for item in leftover:
            self._drop(item, "shutdown", "shutdown deadline reached before delivery")
        if self._disk is not None:
            if self._disk.requests:
                self._log.info(
                    "%d requests stay in %s and are sent on the next start",
                    self._disk.requests,
                    self._disk.file,
                )
            self._disk.close()
        for sender in self._senders.values():
            sender.close()

    # -- the pipeline's side -------------------------------------------------------------------------
    def consume(self, request: TelemetryRequest) -> None:
        """Queue for delivery; when the sending queue is full the items are dropped and counted."""
        if not self.offer(request):
            q = self.config.sending_queue
            self._drop(
                _Item(Signal(request.signal), b"", request.items),
                "shutdown" if self._closed else "queue_full",
                f"sending queue full (sending_queue.queue_size={q.queue_size}, "
                f"max_size_mib={q.max_size_mib}) while the downstream is slow or down",
            )

    def offer(self, request: TelemetryRequest) -> bool:
        """Queue for delivery if there is room; False (nothing counted) when full, so a caller that
        has not acknowledged the request yet can refuse it with a retry hint instead."""
        signal = Signal(request.signal)
        if signal in self.disabled:
            self.counters.add(signal, "dropped", request.items, "no_downstream", component=self.ctx.name)
            return True
        payload = request.payload()
        q = self.config.sending_queue
        with self._cond:
            held = self._held()
            full = held[0] >= q.queue_size or held[1] + len(payload) > q.max_size_mib * _MIB or self._closed
            if full:
                return False
            if self._disk is None:
                self._queue.append(_Item(signal, payload, request.items))
                self._bytes += len(payload)
                self._cond.notify()
                return True
            self._reserved = (self._reserved[0] + 1, self._reserved[1] + len(payload))
        try:
            self._disk.put(signal.value, request.items, payload)  # committed before the client's answer
        finally:
            with self._cond:
                self._reserved = (self._reserved[0] - 1, self._reserved[1] - len(payload))
                self._cond.notify()
        return True

    def _held(self) -> tuple[int, int]:
        """Requests and bytes counted against the bounds (on disk: also those being written)."""
        if self._disk is None:
            return len(self._queue), self._bytes
        return self._disk.requests + self._reserved[0], self._disk.bytes + self._reserved[1]

    def has_room(self) -> bool:
        """Whether a request would be taken now (a durable pipeline asks before its processors run)."""
        q = self.config.sending_queue
        with self._cond:
            held = self._held()
            return held[0] < q.queue_size and held[1] < q.max_size_mib * _MIB and not self._closed

    def queue_depth(self) -> dict[str, int]:
        with self._cond:
            if self._disk is not None:
                return {
                    "requests": self._disk.pending(),
                    "bytes": self._disk.bytes,
                    "in_flight": self.in_flight,
                    "on_disk": self._disk.requests,
                    "capacity": self.config.sending_queue.queue_size,
                }
            return {
                "requests": len(self._queue),
                "bytes": self._bytes,
                "in_flight": self.in_flight,
                "capacity": self.config.sending_queue.queue_size,
            }

    def _pending(self) -> bool:
        return bool(self._disk.pending() if self._disk is not None else self._queue)

    def _next(self) -> _Item | None:
        if self._disk is not None:
            if self._stop.is_set() and time.monotonic() >= self._deadline:
                return None  # what is left stays on disk for the next start
            entry = self._disk.take()
            return None if entry is None else _Item(Signal(entry.signal), entry.payload, entry.items, entry)
        if not self._queue:
            return None
        item = self._queue.popleft()
        self._bytes -= len(item.payload)
        return item

    # -- workers -----------------------------------------------------------------------------------
    def _work(self, index: int) -> None:
        while True:
            with self._cond:
                while not self._pending() and not self._stop.is_set():
                    self._cond.wait()
                item = self._next()
                if item is None:
                    return
                self.in_flight += 1
            finished = True
            try:
                finished = self._export(index, item)
            except Exception as exc:  # never let a worker die
                self._drop(item, "internal_error", f"{type(exc).__name__}: {exc}")
                self._log.exception("exporter worker error")
            finally:
                if item.entry is not None and self._disk is not None:
                    if finished:
                        self._disk.remove(item.entry)
                    else:
                        self._disk.release(item.entry)
                with self._cond:
                    self.in_flight -= 1
                    self._cond.notify_all()

    def _sender(self, index: int, signal: Signal) -> Any:
        sender = self._senders.get((index, signal))
        if sender is None:
            sender = make_sender(
                self.targets[signal], reconnect_cap=self.config.retry_on_failure.max_interval
            )
            self._senders[(index, signal)] = sender
        return sender

    def _export(self, index: int, item: _Item) -> bool:
        """Send with retries; False when the item stays queued (on disk, at shutdown)."""
        sender = self._sender(index, item.signal)
        retry = self.config.retry_on_failure
        max_elapsed = retry.max_elapsed_time or float("inf")

        def give_up(state: RetryCallState) -> bool:
            return stop_after_delay(max_elapsed)(state) or time.monotonic() >= self._deadline

        try:
            for attempt in Retrying(
                retry=retry_if_exception(
                    lambda e: isinstance(e, ExportError) and e.retryable and retry.enabled
                ),
                wait=self._wait,
                stop=give_up,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    result = sender.send(item.payload)
        except ExportError as exc:
            if not exc.retryable:
                reason = "rejected"
            elif time.monotonic() >= self._deadline:
                reason = "shutdown"
            else:
                reason = "retries_exhausted"
            if reason == "shutdown" and item.entry is not None:
                return False
            self._drop(item, reason, str(exc))
            return True
        delivered = item.items - min(result.rejected, item.items)
        self.counters.add(item.signal, "forwarded", delivered, component=self.ctx.name)
        if result.rejected:
            self._drop(
                _Item(item.signal, b"", min(result.rejected, item.items)),
                "downstream_partial",
                f"downstream partial success: {result.message}",
            )
        return True

    def _wait(self, state: RetryCallState) -> float:
        retry = self.config.retry_on_failure
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return float(min(hinted, retry.max_interval * 4))
        backoff = retry.initial_interval * retry.multiplier ** (state.attempt_number - 1)
        backoff = min(backoff, retry.max_interval)
        return backoff * random.uniform(0.5, 1.5)  # jitter as in the Collector's exporterhelper

    def _sleep(self, seconds: float) -> None:
        seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        if self._stop.is_set():
            time.sleep(seconds)  # draining: the normal backoff, cut at the shutdown deadline
        else:
            self._stop.wait(seconds)  # ends early when shutdown begins: one more try right away

    def _drop(self, item: _Item, reason: str, detail: str) -> None:
        self.counters.add(item.signal, "dropped", item.items, reason, component=self.ctx.name)
        key = f"{reason}:{item.signal}"
        if key not in self._warned:
            self._warned[key] = 1
            self._log.warning(
                "dropped %d %s (%s): %s; further drops for this reason are only counted "
                "(otelml_collector.*.dropped{reason=%s}, /v1/status)",
                item.items,
                item.signal,
                reason,
                detail,
                reason,
            )


def _points_at(target: Target, own: set[str]) -> bool:
    authority = (
        target.authority if target.protocol == "grpc" else target.endpoint.split("://", 1)[-1].split("/")[0]
    )
    host, _, port = authority.rpartition(":")
    host = {"localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::1]": "127.0.0.1"}.get(host, host)
    return f"{host}:{port}" in own
