"""Finding 4 of issue 13 (log amplification): repeated log lines are rate-limited per template."""

from __future__ import annotations

import logging

from otelml_collector.logfilter import RateLimitFilter


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def make(now: list[float]) -> tuple[logging.Logger, Capture]:
    handler = Capture()
    handler.addFilter(RateLimitFilter(burst=5, interval=60, clock=lambda: now[0]))
    log = logging.getLogger(f"test.ratelimit.{id(handler)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log, handler


def test_a_flood_of_one_template_becomes_a_few_lines_and_a_count():
    now = [0.0]
    log, out = make(now)
    for i in range(16_776):  # the reproducer's count of "window closed" lines
        log.info("drift: window of %s closed with %d observations", "m", i)
    log.warning("another template passes")
    assert out.lines[:5] == [f"drift: window of m closed with {i} observations" for i in range(5)]
    assert out.lines[5:] == ["another template passes"]
    now[0] = 61.0
    log.info("drift: window of %s closed with %d observations", "m", 99)
    assert out.lines[-1] == (
        "drift: window of m closed with 99 observations [16771 similar lines suppressed in the last 60s]"
    )


def test_the_same_template_at_another_level_or_logger_is_its_own_group():
    now = [0.0]
    log, out = make(now)
    for _ in range(10):
        log.info("x %d", 1)
        log.warning("x %d", 1)
    assert len(out.lines) == 10
