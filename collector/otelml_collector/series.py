"""The series `/metrics` serves, kept between scrapes by `telemetry.PullMetricReader`.

A `Stream` is one metric stream (an instrument seen through a view); a `Series` is one of its time series:
its latest point, the newest exemplar per histogram bucket, and a `stamp` that changes whenever either
changes, so the exposition tells an unchanged series by one integer instead of comparing points.
`SeriesBook` holds them by key; `SeriesBook.from_metrics_data` builds them from the SDK's own collection
(every point a new series), the reference the incremental collection is compared with.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

__all__ = ["Series", "SeriesBook", "Stream"]

_DATA_KINDS = {Sum: "sum", Gauge: "gauge", Histogram: "histogram"}


@dataclass(frozen=True, slots=True)
class Stream:
    """One metric stream: `kind` is "sum", "gauge" or "histogram"; `key` is stable while it lives."""

    key: int
    name: str
    description: str
    unit: str
    kind: str
    monotonic: bool


@dataclass(frozen=True, slots=True)
class Series:
    """One time series as of the last collection; a new `stamp` whenever its point or exemplars change."""

    stamp: int
    point: Any  # the SDK's NumberDataPoint or HistogramDataPoint
    exemplars: dict[int, Any]  # bucket index (0 for sums) -> newest exemplar; counters and histograms only
    marker: Any = None  # what the collector needs to tell the series unchanged next time


Snapshot = list[tuple[Stream, list[Series]]]


class SeriesBook:
    """Streams and their series by key (the collector's choice), and the last complete snapshot."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.snapshot: Snapshot = []
        self.resource: dict[str, Any] = {}
        self._stamps = itertools.count(1)
        self._streams: dict[Hashable, Stream] = {}
        self._series: dict[Hashable, dict[Hashable, Series]] = {}

    def stream(
        self, key: Hashable, name: str, description: str, unit: str, kind: str, monotonic: bool
    ) -> Stream:
        found = self._streams.get(key)
        if found is None:
            found = self._streams[key] = Stream(next(self._stamps), name, description, unit, kind, monotonic)
        return found

    def series(self, key: Hashable) -> dict[Hashable, Series]:
        """The series of stream `key` as last stored (read only)."""
        return self._series.get(key, {})

    def new(self, stream: Stream, point: Any, before: Series | None, marker: Any = None) -> Series:
        """`point` as a new series, keeping the exemplars of `before` that `point` does not replace."""
        exemplars = dict(before.exemplars) if before is not None else {}
        if stream.kind == "histogram" or stream.monotonic:
            for ex in point.exemplars or ():
                bucket = _bucket(point, ex.value)
                old = exemplars.get(bucket)
                if old is None or ex.time_unix_nano >= old.time_unix_nano:
                    exemplars[bucket] = ex
        return Series(next(self._stamps), point, exemplars, marker)

    def store(
        self, pairs: Iterable[tuple[Hashable, dict[Hashable, Series]]], resource: dict[str, Any]
    ) -> None:
        """Every live stream's series (streams not among them are forgotten) as the new snapshot."""
        snapshot, live = [], set()
        for key, series in pairs:
            self._series[key] = series
            live.add(key)
            snapshot.append((self._streams[key], list(series.values())))
        for gone in [k for k in self._streams if k not in live]:
            del self._streams[gone]
            self._series.pop(gone, None)
        self.snapshot, self.resource = snapshot, resource

    def from_metrics_data(self, data: MetricsData) -> None:
        """The SDK's collection as the new snapshot: every point a new series (exemplars carried over)."""
        pairs, resource = [], {}
        for rm in data.resource_metrics:
            resource = dict(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = _DATA_KINDS.get(type(metric.data))
                    if kind is None:
                        continue
                    key = (metric.name, kind, sm.scope.name)
                    monotonic = kind == "sum" and metric.data.is_monotonic
                    stream = self.stream(key, metric.name, metric.description or "", metric.unit or "", kind,
                                         monotonic)  # fmt: skip
                    old, new = self.series(key), {}
                    for p in metric.data.data_points:
                        attrs = frozenset(p.attributes.items())
                        new[attrs] = self.new(stream, p, old.get(attrs))
                    pairs.append((key, new))
        self.store(pairs, resource)


def _bucket(point: Any, value: float) -> int:
    """Index of the histogram bucket holding `value` (0 for points that are not histograms)."""
    bounds = getattr(point, "explicit_bounds", None)
    return bisect.bisect_left(bounds, value) if bounds is not None else 0
