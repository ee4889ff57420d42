"""The pipeline's honest numbers: what was received, refused, forwarded and dropped, by signal,
reason, receiver/transport or exporter. Plain integers under a lock on the hot path, published as
OTel observable counters (`otelml_collector.spans.received`, and the Collector's shapes
`otelml_collector_receiver_accepted_spans`, ...) and on `/v1/status`."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider

from otelml_collector import __version__

__all__ = ["ITEM_NAMES", "OUTCOMES", "Counters"]

ITEM_NAMES = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}
"""What is counted per signal; metric names are `otelml_collector.<item>.<outcome>`."""

OUTCOMES = ("received", "refused", "forwarded", "dropped")
_DESCRIPTIONS = {
    "received": "accepted by the receiver",
    "refused": "refused by the receiver (bad input, queue full); the client was told",
    "forwarded": "delivered to the downstream OTLP endpoint",
    "dropped": "accepted but not delivered downstream, by reason",
}


class Counters:
    """Thread-safe monotonic counters keyed by (signal, outcome, reason, component, transport).

    `component` is the receiver or exporter that counted (`receivers.otlp` -> "otlp"), `transport` the
    receiver's protocol ("grpc" | "http"); both are empty for counts of the pipeline itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str, str, str, str], int] = {}

    def add(
        self, signal: str, outcome: str, n: int, reason: str = "", *, component: str = "", transport: str = ""
    ) -> None:
        if n <= 0:
            return
        key = (str(signal), outcome, reason, component, transport)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + n

    def get(self, signal: str, outcome: str, reason: str | None = None) -> int:
        """Total for (signal, outcome); restricted to one reason when given."""
        with self._lock:
            return sum(
                v
                for (s, o, r, _, _), v in self._values.items()
                if s == signal and o == outcome and (reason is None or r == reason)
            )

    def _rows(self) -> list[tuple[tuple[str, str, str, str, str], int]]:
        with self._lock:
            return list(self._values.items())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """{"spans": {"received": 10, "dropped": {"total": 2, "queue_full": 2}, ...}, ...}"""
        out: dict[str, dict[str, object]] = {
            item: {o: 0 if o in ("received", "forwarded") else {"total": 0} for o in OUTCOMES}
            for item in ITEM_NAMES.values()
        }
        for (signal, outcome, reason, _, _), value in self._rows():
            entry = out.setdefault(ITEM_NAMES.get(signal, signal), {})
            if outcome in ("refused", "dropped") or reason:
                bucket = entry.setdefault(outcome, {"total": 0})
                assert isinstance(bucket, dict)
                bucket["total"] += value
                bucket[reason or "unknown"] = bucket.get(reason or "unknown", 0) + value
            else:
                entry[outcome] = int(entry.get(outcome, 0)) + value  # type: ignore[call-overload]
        return out

    def register_instruments(self, meter_provider: MeterProvider) -> None:
        """Publish the counters as observable counters on `meter_provider`: the sidecar's own names
        (`otelml_collector.spans.received`{reason}) and the OTel Collector's shapes
        (`otelml_collector_receiver_accepted_spans`{receiver, transport},
        `otelml_collector_exporter_sent_spans`{exporter}, ...)."""
        meter = meter_provider.get_meter("otelml_collector", __version__)
        for signal, item in ITEM_NAMES.items():
            unit = "{" + item.rstrip("s") + "}"
            for outcome in OUTCOMES:
                meter.create_observable_counter(
                    f"otelml_collector.{item}.{outcome}",
                    callbacks=[self._callback(signal, outcome)],
                    unit=unit,
                    description=f"{item.replace('_', ' ')} {_DESCRIPTIONS[outcome]}",
                )
            for name, (outcome, role, reasons, description) in _COLLECTOR_SHAPES.items():
                meter.create_observable_counter(
                    f"otelml_collector_{name}_{item}",
                    callbacks=[self._by_component(signal, outcome, role, reasons)],
                    unit=unit,
                    description=f"{item.replace('_', ' ')} {description}",
                )
        meter.create_observable_counter(
            "otelml_collector.requests.refused",
            callbacks=[self._requests_callback],
            unit="{request}",
            description="whole requests refused before decoding (bad body, too large, wrong content type)",
        )

    def _requests_callback(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[str, str], int] = {}
        for (s, o, r, _, _), v in self._rows():
            if o == "refused_requests":
                totals[(s, r)] = totals.get((s, r), 0) + v
        return [Observation(v, {"signal": s, "reason": r}) for (s, r), v in totals.items()]

    def _callback(self, signal: str, outcome: str):  # type: ignore[no-untyped-def]
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            totals: dict[str, int] = {}
            for (s, o, r, _, _), v in self._rows():
                if s == signal and o == outcome:
                    totals[r] = totals.get(r, 0) + v
            if not totals and outcome in ("received", "forwarded"):
                totals[""] = 0
            return [Observation(v, {"reason": r} if r else {}) for r, v in totals.items()]

        return observe

    def _by_component(  # type: ignore[no-untyped-def]
        self, signal: str, outcome: str, role: str, reasons: frozenset[str] | None
    ):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            totals: dict[tuple[str, str], int] = {}
            for (s, o, r, component, transport), v in self._rows():
                if s == signal and o == outcome and component and (reasons is None or r in reasons):
                    totals[(component, transport)] = totals.get((component, transport), 0) + v
            if role == "receiver":
                return [Observation(v, {"receiver": c, "transport": t}) for (c, t), v in totals.items()]
            return [Observation(v, {"exporter": c}) for (c, _), v in totals.items()]

        return observe


_COLLECTOR_SHAPES: dict[str, tuple[str, str, frozenset[str] | None, str]] = {
    # name: (outcome counted, role, reasons counted (None: all), description) - as the Collector names them
    "receiver_accepted": ("received", "receiver", None, "accepted by the receiver"),
    "receiver_refused": ("refused", "receiver", None, "refused by the receiver"),
    "exporter_sent": ("forwarded", "exporter", None, "delivered downstream by the exporter"),
    "exporter_send_failed": (
        "dropped", "exporter", frozenset({"rejected", "retries_exhausted", "downstream_partial", "shutdown"}),
        "the exporter failed to deliver",
    ),
    "exporter_enqueue_failed": (
        "dropped", "exporter", frozenset({"queue_full"}), "not queued: sending queue full"
    ),
}
