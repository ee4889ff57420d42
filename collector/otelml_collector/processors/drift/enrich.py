"""Tag forwarded inference spans whose feature values the baseline (almost) never saw.

A tagged span gains `ml.drift.features` (string[], the normalised feature names, sorted) and, with
`enrich.markers`, one `ml.drift.<feature> = true` per flagged feature, so a trace backend search
(`ml.drift.features` exists / contains "age") finds the out-of-baseline predictions. The attributes
reach the span through `TelemetryRequest.tag_spans`, which splices them into the received bytes at
the span's offset (`ModelBatch.span_offset`) while the request is undecoded (`otelml_collector.otlp.splice`).
"""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from otelml_collector.pipeline import TelemetryRequest

__all__ = ["ATTR_DRIFT_FEATURES", "MARKER_PREFIX", "drift_attributes", "tag_spans"]

ATTR_DRIFT_FEATURES = "ml.drift.features"
MARKER_PREFIX = "ml.drift."


def drift_attributes(names: set[str], markers: bool) -> list[KeyValue]:
    ordered = sorted(names)
    values = [AnyValue(string_value=n) for n in ordered]
    out = [KeyValue(key=ATTR_DRIFT_FEATURES, value=AnyValue(array_value=ArrayValue(values=values)))]
    if markers:
        out += [KeyValue(key=MARKER_PREFIX + n, value=AnyValue(bool_value=True)) for n in ordered]
    return out


def tag_spans(
    request: TelemetryRequest,
    flags: dict[bytes, set[str]],
    markers: bool = False,
    at: dict[int, tuple[bytes, set[str]]] | None = None,
) -> int:
    """Add the attributes to every span whose span id is in `flags`; returns how many spans changed.
    `at` (span offset -> (span id, names), the same spans as `flags`) lets the splice jump to them."""
    by_names: dict[frozenset[str], list[KeyValue]] = {}  # spans flagged alike share one encoding
    attrs = {}
    for sid, names in flags.items():
        if names:
            key = frozenset(names)
            kvs = by_names.get(key)
            if kvs is None:
                kvs = by_names[key] = drift_attributes(names, markers)
            attrs[sid] = kvs
    offsets = {off: sid for off, (sid, _) in at.items()} if at else None
    return request.tag_spans(attrs, offsets)
