"""Cells of an OTLP request: attributes (KeyValues, including kvlist entries, at every level) and
array elements. What a request costs once decoded grows with its cells, not its bytes (a 2-byte
array element becomes a Python object or a drift row), so the receiver bounds cells per request
and the pipeline queue bounds cells in flight. The C check (`fastscan.check_traces_cells`) counts
the same cells on the wire; this is the reference for decoded messages."""

from __future__ import annotations

import json
from typing import Any

from otelml_collector.otlp.signals import Signal

__all__ = ["JSON_OBJECTS_PER_CELL", "TooManyCells", "count_cells", "load_json_bounded"]

_NESTED = ("array_value", "kvlist_value")
JSON_OBJECTS_PER_CELL = 2  # an attribute is two JSON objects (KeyValue + AnyValue)


class TooManyCells(ValueError):
    """More cells (or, while parsing JSON, objects) than the limit; `limit` is the cell limit."""

    def __init__(self, cells: int, limit: int, what: str = "cells") -> None:
        more = "more than " if what != "cells" else ""
        super().__init__(
            f"request has {more}{cells} {what}, over the limit of {limit} cells "
            "(attributes, array elements and kvlist entries)"
        )
        self.cells = cells
        self.limit = limit


def _value(v: Any) -> int:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        values = v.array_value.values
        return len(values) + sum(_value(x) for x in values if x.WhichOneof("value") in _NESTED)
    if kind == "kvlist_value":
        return _attrs(v.kvlist_value.values)
    return 0


def _attrs(kvs: Any) -> int:
    return len(kvs) + sum(_value(kv.value) for kv in kvs if kv.value.WhichOneof("value") in _NESTED)


def _traces(message: Any) -> int:
    n = 0
    for rs in message.resource_spans:
        n += _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            n += _attrs(ss.scope.attributes)
            for span in ss.spans:
                n += _attrs(span.attributes)
                n += sum(_attrs(e.attributes) for e in span.events)
                n += sum(_attrs(link.attributes) for link in span.links)
    return n


def _logs(message: Any) -> int:
    n = 0
    for rl in message.resource_logs:
        n += _attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            n += _attrs(sl.scope.attributes)
            for record in sl.log_records:
                n += _attrs(record.attributes) + _value(record.body)
    return n


def _metrics(message: Any) -> int:
    n = 0
    for rm in message.resource_metrics:
        n += _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            n += _attrs(sm.scope.attributes)
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                for point in getattr(metric, kind).data_points:
                    n += _attrs(point.attributes)
                    n += sum(_attrs(x.filtered_attributes) for x in getattr(point, "exemplars", ()))
    return n


_COUNTERS = {Signal.TRACES: _traces, Signal.LOGS: _logs, Signal.METRICS: _metrics}


def count_cells(signal: Signal, message: Any) -> int:
    """Attributes, kvlist entries and array elements of a decoded request, at every level."""
    return _COUNTERS[signal](message)


def load_json_bounded(body: bytes, max_cells: int | None) -> Any:
    """`json.loads`, refusing (TooManyCells) a document with more than JSON_OBJECTS_PER_CELL x
    `max_cells` objects while it is parsed, before the objects cost more than that."""
    if max_cells is None:
        return json.loads(body)
    limit = JSON_OBJECTS_PER_CELL * max_cells
    if body.count(b"{") <= limit:  # braces bound the objects: no need to count while parsing
        return json.loads(body)
    seen = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen > limit:
            raise TooManyCells(limit, max_cells, "JSON objects")
        return dict(pairs)

    return json.loads(body, object_pairs_hook=hook)
