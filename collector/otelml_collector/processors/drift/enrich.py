"""Tag forwarded inference spans whose feature values the baseline (almost) never saw.

A tagged span gains `ml.drift.features` (string[], the normalised feature names, sorted) and, with
`enrich.markers`, one `ml.drift.<feature> = true` per flagged feature, so a trace backend search
(`ml.drift.features` exists / contains "age") finds the out-of-baseline predictions. Only requests
with at least one such span are decoded (if not already) and re-encoded (`request.modified`).
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelml_collector.pipeline import TelemetryRequest

__all__ = ["ATTR_DRIFT_FEATURES", "MARKER_PREFIX", "tag_spans"]

ATTR_DRIFT_FEATURES = "ml.drift.features"
MARKER_PREFIX = "ml.drift."


def tag_spans(request: TelemetryRequest, flags: dict[bytes, set[str]], markers: bool = False) -> int:
    """Add the attributes to every span whose span id is in `flags`; returns how many spans changed."""
    if request.message is None:
        if request.raw is None:
            return 0
        request.message = ExportTraceServiceRequest.FromString(request.raw)
    changed = 0
    for rs in request.message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                names = flags.get(span.span_id)
                if not names:
                    continue
                ordered = sorted(names)
                kv = span.attributes.add()
                kv.key = ATTR_DRIFT_FEATURES
                kv.value.array_value.values.add().string_value = ordered[0]
                for name in ordered[1:]:
                    kv.value.array_value.values.add().string_value = name
                if markers:
                    for name in ordered:
                        marker = span.attributes.add()
                        marker.key = MARKER_PREFIX + name
                        marker.value.bool_value = True
                changed += 1
    if changed:
        request.modified = True
    return changed
