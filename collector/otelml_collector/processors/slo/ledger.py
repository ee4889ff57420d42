"""Good/total event counts of one objective in time buckets: bounded memory, whatever the traffic.

Fine buckets (`fine_width` seconds, a twentieth of the shortest alert window) cover the longest alert
window and answer burn rates; coarse buckets (a thousandth of the period) cover the error-budget
period. A window's count is the sum of the buckets that start inside it, so its edge is exact to one
bucket width. Counts are integers, so removing an event that was counted (a performance window that
was re-scored) is adding a negative count to the same bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Buckets", "Ledger"]


@dataclass
class Buckets:
    width: float  # seconds
    span: float  # seconds of history kept
    counts: dict[int, list[int]] = field(default_factory=dict)  # bucket index -> [good, total]

    def add(self, t: float, good: int, total: int) -> None:
        index = math.floor(t / self.width)
        cell = self.counts.get(index)
        if cell is None:
            self.counts[index] = [good, total]
            if len(self.counts) > self.capacity + 8:
                self.prune(t)
        else:
            cell[0] += good
            cell[1] += total

    @property
    def capacity(self) -> int:
        return math.ceil(self.span / self.width) + 1

    def prune(self, now: float) -> None:
        oldest = math.floor((now - self.span) / self.width)
        for index in [i for i in self.counts if i < oldest]:
            del self.counts[index]

    def count(self, now: float, seconds: float) -> tuple[int, int]:
        """(good, total) of the buckets that start within the last `seconds` before `now`."""
        first = math.floor((now - seconds) / self.width) + 1
        last = math.floor(now / self.width)
        good = total = 0
        if last - first + 1 < len(self.counts):
            for index in range(first, last + 1):
                cell = self.counts.get(index)
                if cell is not None:
                    good += cell[0]
                    total += cell[1]
        else:
            for index, cell in self.counts.items():
                if first <= index <= last:
                    good += cell[0]
                    total += cell[1]
        return good, total

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "span": self.span,
            "counts": [[i, g, t] for i, (g, t) in self.counts.items()],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Buckets:
        return cls(float(d["width"]), float(d["span"]), {int(i): [int(g), int(t)] for i, g, t in d["counts"]})


class Ledger:
    """The event counts of one objective."""

    def __init__(self, shortest_window: float, longest_window: float, period: float) -> None:
        self.fine = Buckets(shortest_window / 20.0, longest_window)
        self.coarse = Buckets(period / 1000.0, period)

    def add(self, t: float, good: int, total: int) -> None:
        self.fine.add(t, good, total)
        self.coarse.add(t, good, total)

    def window(self, now: float, seconds: float) -> tuple[int, int]:
        return self.fine.count(now, seconds)

    def period(self, now: float) -> tuple[int, int]:
        return self.coarse.count(now, self.coarse.span)

    def prune(self, now: float) -> None:
        self.fine.prune(now)
        self.coarse.prune(now)

    def shape(self) -> list[float]:
        return [self.fine.width, self.fine.span, self.coarse.width, self.coarse.span]

    def to_json(self) -> dict[str, Any]:
        return {"fine": self.fine.to_json(), "coarse": self.coarse.to_json()}

    def restore(self, d: dict[str, Any]) -> None:
        self.fine = Buckets.from_json(d["fine"])
        self.coarse = Buckets.from_json(d["coarse"])
