"""A logging filter that rate-limits repeated lines, so hostile or merely heavy traffic cannot turn
into a flood of log output (issue 13: 16 MiB of tiny cells once produced 16,776 INFO lines).

Lines are grouped by logger, level and message template (`record.msg`, before `%` formatting): at
most `burst` lines of a group pass per `interval` seconds; the rest are counted, and the first line
of the group after the interval says how many were suppressed. Installed on the sidecar's log
handlers by `otelml_collector.cli`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimitFilter"]


class RateLimitFilter(logging.Filter):
    def __init__(
        self, burst: int = 5, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, int, str], list[float | int]] = {}  # key -> [start, passed, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            group = self._groups.get(key)
            if group is None or now - group[0] >= self.interval:
                dropped = int(group[2]) if group is not None else 0
                if len(self._groups) > 10_000:
                    self._groups.clear()  # bounded memory for pathological templates
                self._groups[key] = [now, 1, 0]
                if dropped:
                    suffix = f" [{dropped} similar lines suppressed in the last {self.interval:g}s]"
                    record.msg = f"{record.msg}{suffix}"
                return True
            if group[1] < self.burst:
                group[1] += 1
                return True
            group[2] += 1
            return False
