"""Stored inference calls of one model with the rest of their traces, for triage and canary analysis.

`model_calls(store, model, ...)` walks the store's prediction columns (newest or oldest chunk first),
keeps the inference spans of `model` in the time range, then decodes once every chunk that holds a
span of those traces (the feature lookups and the services' server spans may have arrived in other
requests). Cost is proportional to the predictions asked for (`max_calls`), never to the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otelml_collector.predstore.documents import any_value, iter_spans
from otelml_collector.predstore.store import PredictionStore

__all__ = ["Call", "TraceSpan", "model_calls"]

_PAGE = 64
_SERVER, _ERROR = 2, 2
_LOOKUP = "feature_lookup"


@dataclass
class TraceSpan:
    """A span of a prediction trace other than the inference span itself (attributes only for
    `feature_lookup` spans)."""

    name: str
    service: str
    server: bool
    error: bool
    attributes: dict[str, Any]


@dataclass
class Call:
    """One inference span of the model."""

    prediction_id: str
    trace_id: bytes
    span_id: bytes
    version: str
    start_ns: int
    end_ns: int
    error: bool
    value: Any
    score: float | None
    attributes: dict[str, Any]
    others: list[TraceSpan] = field(default_factory=list)  # the trace's other spans

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_ns - self.start_ns) / 1e9)

    @property
    def role(self) -> str:
        return str(self.attributes.get("ml.deployment.role") or "primary")


def _chunk_ids(store: PredictionStore, oldest_first: bool, after: int | None) -> list[int]:
    if oldest_first:
        sql = "SELECT id FROM pred_chunks WHERE n_predictions > 0 AND id > ? ORDER BY id ASC LIMIT ?"
        return [int(r[0]) for r in store.query(sql, (after if after is not None else -1, _PAGE))]
    sql = "SELECT id FROM pred_chunks WHERE n_predictions > 0 AND id < ? ORDER BY id DESC LIMIT ?"
    return [int(r[0]) for r in store.query(sql, (after if after is not None else 1 << 62, _PAGE))]


def model_calls(
    store: PredictionStore,
    model: str,
    *,
    since_ns: int = 0,
    versions: set[str] | None = None,
    oldest_first: bool = False,
    max_calls: int = 20_000,
    per_version: int | None = None,
    with_traces: bool = True,
) -> list[Call]:
    """Inference calls of `model` (of `versions`, when given) that ended at or after `since_ns`,
    oldest first; at most `max_calls` in all and `per_version` per version (the newest ones, or the
    oldest with `oldest_first`)."""
    wanted: dict[tuple[bytes, bytes], tuple[str, str, Any, float | None]] = {}
    per: dict[str, int] = {}
    chunks: set[int] = set()
    cursor: int | None = None
    done = False
    while not done:
        page = _chunk_ids(store, oldest_first, cursor)
        if not page:
            break
        cursor = page[-1]
        got = dict(store.chunk_predictions(set(page)))
        for cid in page:
            p = got.get(cid)
            if p is None:
                continue
            for i in range(len(p)):
                m, v = p.models[int(p.model_index[i])]
                if m != model or int(p.times[i]) < since_ns or (versions is not None and v not in versions):
                    continue
                if per_version is not None and per.get(v, 0) >= per_version:
                    continue
                key = (p.trace_ids[16 * i : 16 * i + 16], p.span_ids[8 * i : 8 * i + 8])
                if key in wanted:
                    continue
                score = float(p.scores[i])
                wanted[key] = (p.pids[i], v, p.values[i], None if score != score else score)
                per[v] = per.get(v, 0) + 1
                chunks.add(cid)
            if len(wanted) >= max_calls or (
                per_version is not None and versions is not None
                and all(per.get(v, 0) >= per_version for v in versions)
            ):
                done = True
                break
            if not oldest_first and int(p.times.max(initial=0)) < since_ns and len(p):
                done = True  # older chunks end earlier still (arrival order, roughly)
    if not wanted:
        return []
    traces = {t for t, _ in wanted}
    if with_traces:
        chunks |= store.chunks_of_traces(list(traces))
    calls: dict[tuple[bytes, bytes], Call] = {}
    others: dict[bytes, dict[bytes, TraceSpan]] = {}
    for body in store.bodies(chunks):
        for span, service in iter_spans(body):
            tid = span.trace_id
            if tid not in traces:
                continue
            key = (tid, span.span_id)
            row = wanted.get(key)
            error = span.status.code == _ERROR
            if row is not None:
                attrs = {kv.key: any_value(kv.value) for kv in span.attributes}
                if key not in calls:
                    pid, version, value, score = row
                    calls[key] = Call(pid, tid, span.span_id, version, span.start_time_unix_nano,
                                      span.end_time_unix_nano, error, value, score, attrs)
            elif with_traces:  # only feature lookups' attributes are read (freshness, view)
                attrs = (
                    {kv.key: any_value(kv.value) for kv in span.attributes}
                    if span.name.startswith(_LOOKUP)
                    else {}
                )
                others.setdefault(tid, {})[span.span_id] = TraceSpan(
                    span.name, service, span.kind == _SERVER, error, attrs
                )
    out = sorted(calls.values(), key=lambda c: c.end_ns)
    for c in out:
        c.others = list(others.get(c.trace_id, {}).values())
    return out
