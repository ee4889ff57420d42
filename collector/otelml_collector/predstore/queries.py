"""Reading the prediction store: a prediction, a trace, a search (the documents of docs/predictions.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from otelml.semconv import normalize_feature_name
from otelml_collector.predstore.documents import attributes_of, iter_spans, spans_of_traces
from otelml_collector.predstore.store import Predictions, PredictionStore

__all__ = ["Filters", "find_prediction", "iso_time", "prediction_document", "search", "trace_document"]

MAX_SCANNED = 200_000  # predictions a search reads before it stops (the answer then says "truncated")
_PAGE = 64  # chunks read per page of a search


def iso_time(unix_nano: int | None) -> str | None:
    if unix_nano is None:
        return None
    return (
        datetime.fromtimestamp(unix_nano / 1e9, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def _label(row: dict[str, Any], ann: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if ann is None or ann[2] is None:
        return None
    value, at, delay = ann[1], ann[2], ann[3]
    if delay is None and row.get("time_ns") is not None:
        delay = (at - row["time_ns"]) / 1e9
    return {"value": value, "time": iso_time(at), "delay_s": delay}


def _row(p: Predictions, i: int) -> dict[str, Any]:
    model, version = p.models[int(p.model_index[i])]
    score = float(p.scores[i])
    return {
        "prediction_id": p.pids[i],
        "trace_id": p.trace_ids[16 * i : 16 * i + 16],
        "span_id": p.span_ids[8 * i : 8 * i + 8],
        "model": model,
        "version": version,
        "time_ns": int(p.times[i]),
        "value": p.values[i],
        "score": None if math.isnan(score) else score,
    }


def _summary(row: dict[str, Any], ann: tuple[Any, ...] | None) -> dict[str, Any]:
    return {
        "prediction_id": row["prediction_id"],
        "trace_id": row["trace_id"].hex() if row.get("trace_id") else None,
        "time": iso_time(row.get("time_ns")),
        "model": row.get("model"),
        "version": row.get("version"),
        "value": row.get("value"),
        "score": row.get("score"),
        "decision": ann[0] if ann else None,
        "label": _label(row, ann),
    }


def find_prediction(store: PredictionStore, prediction_id: str) -> dict[str, Any] | None:
    """The inference row of a prediction (oldest if several), or None."""
    for _, p in sorted(
        store.chunk_predictions(store.chunks_of_prediction(prediction_id)), key=lambda c: c[0]
    ):
        if prediction_id in p.pids:
            return _row(p, p.pids.index(prediction_id))
    return None


def prediction_document(store: PredictionStore, prediction_id: str) -> dict[str, Any] | None:
    row = find_prediction(store, prediction_id)
    ann = store.annotations([prediction_id]).get(prediction_id)
    if row is None and ann is None:
        return None
    row = row or {"prediction_id": prediction_id}
    traces = [t for t in (row.get("trace_id"), ann[4] if ann else None) if t is not None]
    chunks: set[int] = set()
    for trace_id in traces:
        chunks |= store.chunks_of_trace(trace_id)
    return {
        "prediction_id": prediction_id,
        "model": row.get("model"),
        "version": row.get("version"),
        "time": iso_time(row.get("time_ns")),
        "trace_ids": list(dict.fromkeys(t.hex() for t in traces)),
        "spans": spans_of_traces(store.bodies(chunks), set(traces)),
        "label": _label(row, ann),
    }


def trace_document(store: PredictionStore, trace_id: bytes) -> dict[str, Any] | None:
    spans = spans_of_traces(store.bodies(store.chunks_of_trace(trace_id)), {trace_id})
    if not spans:
        return None
    pids = [s["attributes"].get("ml.prediction.id") for s in spans]
    return {
        "trace_id": trace_id.hex(),
        "prediction_ids": list(dict.fromkeys(p for p in pids if isinstance(p, str))),
        "spans": spans,
    }


@dataclass
class Filters:
    model: str | None = None
    version: str | None = None
    since_unix_nano: int | None = None
    until_unix_nano: int | None = None
    feature: str | None = None
    min: float | None = None  # with `feature`: numeric range, inclusive
    max: float | None = None
    value: str | None = None  # with `feature`: the feature's value; without: the prediction value
    decision: str | None = None
    label: str | None = None  # a label value, or "any" / "none" (labelled or not)
    limit: int = 100


def _number_or_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _candidates(p: Predictions, f: Filters) -> list[int]:
    """Rows of a chunk passing the column filters, newest first."""
    mask = np.ones(len(p), dtype=bool)
    if f.model is not None or f.version is not None:
        ok = [(f.model in (None, m)) and (f.version in (None, v)) for m, v in p.models]
        mask &= np.asarray(ok, dtype=bool)[p.model_index]
    if f.since_unix_nano is not None:
        mask &= p.times >= f.since_unix_nano
    if f.until_unix_nano is not None:
        mask &= p.times <= f.until_unix_nano
    rows = np.flatnonzero(mask)[::-1].tolist()
    if f.value is not None and f.feature is None:
        wanted = _number_or_text(f.value)
        rows = [i for i in rows if p.values[i] == wanted or str(p.values[i]) == f.value]
    return rows


def _annotated(ann: tuple[Any, ...] | None, f: Filters) -> bool:
    if f.decision is not None and (ann is None or ann[0] != f.decision):
        return False
    labelled = ann is not None and ann[2] is not None
    if f.label == "any":
        return labelled
    if f.label == "none":
        return not labelled
    if f.label is not None:
        return labelled and (ann[1] == _number_or_text(f.label) or str(ann[1]) == f.label)  # type: ignore[index]
    return True


def search(store: PredictionStore, f: Filters) -> dict[str, Any]:
    """Newest arrivals first, chunk by chunk (no sort of the whole store). A feature filter reads the
    inference spans of candidates. The search stops after `MAX_SCANNED` predictions and then says
    `"truncated": true`."""
    keys = (
        {f"ml.feature.{f.feature}", f"ml.feature.{normalize_feature_name(f.feature)}"} if f.feature else set()
    )
    out: list[dict[str, Any]] = []
    before: int | None = None
    scanned = 0
    while len(out) < f.limit:
        page = store.chunk_predictions(newest_first=True, before=before, limit=_PAGE)
        if not page:
            return {"predictions": out}
        for chunk_id, p in page:
            before = chunk_id
            scanned += len(p)
            rows = _candidates(p, f)
            if not rows:
                continue
            anns = store.annotations([p.pids[i] for i in rows])
            rows = [i for i in rows if _annotated(anns.get(p.pids[i]), f)]
            if keys and rows:
                spans = _inference_spans(store, {chunk_id})
                rows = [i for i in rows if _matches(spans.get(_ids(p, i)), keys, f)]
            for i in rows:
                out.append(_summary(_row(p, i), anns.get(p.pids[i])))
                if len(out) >= f.limit:
                    return {"predictions": out}
        if scanned >= MAX_SCANNED:
            return {"predictions": out, "truncated": True}
    return {"predictions": out}


def _ids(p: Predictions, i: int) -> tuple[bytes, bytes]:
    return p.trace_ids[16 * i : 16 * i + 16], p.span_ids[8 * i : 8 * i + 8]


def _inference_spans(store: PredictionStore, chunks: set[int]) -> dict[tuple[bytes, bytes], Any]:
    spans = {}
    for body in store.bodies(chunks):
        for span, _ in iter_spans(body):
            spans[(span.trace_id, span.span_id)] = span
    return spans


def _matches(span: Any, keys: set[str], f: Filters) -> bool:
    if span is None:
        return False
    attrs = attributes_of(span)
    value = next((attrs[k] for k in keys if k in attrs), None)
    if value is None:
        return False
    values = value if isinstance(value, list) else [value]
    for v in values:
        if f.value is not None and str(v) != f.value and v != _number_or_text(f.value):
            continue
        if f.min is not None or f.max is not None:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if (f.min is not None and v < f.min) or (f.max is not None and v > f.max):
                continue
        return True
    return False
