"""In-process events between sidecar components, so one can react to another without importing it.

Two topics exist:

- `ALERTS`: every alert the sidecar raises (a WARN-or-worse log record emitted through the sidecar's
  LoggerProvider: drift, quality, performance, SLO, canary), as an `Alert`. `telemetry.build_providers`
  publishes them; the `webhook` exporter subscribes.
- `PERFORMANCE_WINDOWS`: each evaluation of a performance window, as a `PerformanceWindow`; the
  `performance` processor publishes them, the `slo` processor subscribes.

Callbacks run on the publisher's thread: they must be quick and must not block (queue and return).
A callback that raises is logged once per subscriber and error type; the publisher never sees it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALERTS", "PERFORMANCE_WINDOWS", "Alert", "EventBus", "PerformanceWindow"]

ALERTS = "alerts"
PERFORMANCE_WINDOWS = "performance.window"

_log = logging.getLogger("otelml_collector.bus")


@dataclass(frozen=True)
class Alert:
    """One alert log record, in plain Python values."""

    event_name: str  # e.g. "ml.drift.alert"
    severity: str  # "WARN", "ERROR", ...
    body: str
    attributes: dict[str, Any]
    time_unix_nano: int
    trace_id: str = ""  # lowercase hex, "" when the record has no trace context
    span_id: str = ""


@dataclass(frozen=True)
class PerformanceWindow:
    """One (re-)evaluation of a performance window; `window_id` is stable across re-evaluations."""

    window_id: str
    model: str
    version: str
    segment: dict[str, str]
    kind: str  # "realized" | "estimated"
    values: dict[str, float]
    n: int
    coverage: float
    min_coverage: float  # the processor's own bar for alerting on realized values
    end_unix_nano: int
    trace_id: str = ""  # a wrong prediction of the window, when there is one
    extra: dict[str, Any] = field(default_factory=dict)


class EventBus:
    """Topic -> subscribers; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Callable[[Any], None]]] = {}
        self._warned: set[tuple[int, str]] = set()

    def subscribe(self, topic: str, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event published on `topic`; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.setdefault(topic, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(topic, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def has_subscribers(self, topic: str) -> bool:
        with self._lock:
            return bool(self._subscribers.get(topic))

    def publish(self, topic: str, event: Any) -> None:
        with self._lock:
            callbacks = list(self._subscribers.get(topic, ()))
        for callback in callbacks:
            try:
                callback(event)
            except Exception as exc:
                key = (id(callback), type(exc).__name__)
                if key not in self._warned:
                    self._warned.add(key)
                    _log.error("subscriber of %s failed (logged once per error type)", topic, exc_info=exc)
