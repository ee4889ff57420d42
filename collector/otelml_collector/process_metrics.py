"""The sidecar's own gauges beside its counters: the process's CPU time, RSS and uptime, and each
exporter's sending-queue size and capacity, named as the OpenTelemetry Collector names its own."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider

from otelml_collector import __version__

__all__ = ["register_process_instruments", "register_queue_instruments"]


def register_queue_instruments(
    meter_provider: MeterProvider, queues: Callable[[], dict[str, tuple[int, int]]]
) -> None:
    """`otelml_collector_exporter_queue_size` / `_capacity` {exporter}: `queues()` gives
    {exporter name: (requests queued, capacity)}."""
    meter = meter_provider.get_meter("otelml_collector", __version__)

    def observe(index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        return lambda options: [Observation(q[index], {"exporter": n}) for n, q in queues().items()]

    meter.create_observable_gauge(
        "otelml_collector_exporter_queue_size", callbacks=[observe(0)], unit="{request}",
        description="requests waiting in the exporter's sending queue",
    )  # fmt: skip
    meter.create_observable_gauge(
        "otelml_collector_exporter_queue_capacity", callbacks=[observe(1)], unit="{request}",
        description="capacity of the exporter's sending queue (sending_queue.queue_size)",
    )  # fmt: skip


def register_process_instruments(meter_provider: MeterProvider, started_at: float) -> None:
    """The process's CPU time, resident memory and uptime, named as the Collector names its own."""
    meter = meter_provider.get_meter("otelml_collector", __version__)
    meter.create_observable_counter(
        "otelml_collector_process_cpu_seconds", unit="s",
        callbacks=[lambda options: [Observation(sum(os.times()[:2]))]],
        description="user + system CPU time of the sidecar process",
    )  # fmt: skip
    meter.create_observable_gauge(
        "otelml_collector_process_memory_rss", unit="By",
        callbacks=[lambda options: [Observation(_rss_bytes())]],
        description="resident set size of the sidecar process",
    )  # fmt: skip
    meter.create_observable_counter(
        "otelml_collector_process_uptime", unit="s",
        callbacks=[lambda options: [Observation(time.time() - started_at)]],
        description="seconds since the sidecar started",
    )  # fmt: skip


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best portable figure
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
