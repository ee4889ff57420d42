"""Reading the prediction store: a prediction, a trace, a search (the documents of docs/predictions.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from otelml.semconv import normalize_feature_name
from otelml_collector.predstore.documents import attributes_of, iter_spans, spans_of_traces
from otelml_collector.predstore.store import PredictionStore

__all__ = ["Filters", "iso_time", "prediction_document", "search", "trace_document"]

_COLUMNS = (
    "prediction_id, trace_id, span_id, model, version, time_unix_nano, chunk, value, score, decision, "
    "label_value, label_unix_nano, label_delay_s, label_trace_id"
)
MAX_SCANNED = 200_000  # candidate rows a feature search reads before it stops (answer says "truncated")


def iso_time(unix_nano: int | None) -> str | None:
    if unix_nano is None:
        return None
    return (
        datetime.fromtimestamp(unix_nano / 1e9, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def _label(row: tuple[Any, ...]) -> dict[str, Any] | None:
    value, at, delay, _ = row[10:14]
    if at is None and value is None:
        return None
    if delay is None and at is not None and row[5] is not None:
        delay = (at - row[5]) / 1e9
    return {"value": value, "time": iso_time(at), "delay_s": delay}


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "prediction_id": row[0],
        "trace_id": row[1].hex() if row[1] is not None else None,
        "time": iso_time(row[5]),
        "model": row[3],
        "version": row[4],
        "value": row[7],
        "score": row[8],
        "decision": row[9],
        "label": _label(row),
    }


def prediction_document(store: PredictionStore, prediction_id: str) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {_COLUMNS} FROM pred_predictions WHERE prediction_id=?", (prediction_id,))
    if not rows:
        return None
    row = rows[0]
    traces = [t for t in (row[1], row[13]) if t is not None]
    chunks: set[int] = set()
    for trace_id in traces:
        chunks |= store.chunks_of_trace(trace_id)
    spans = spans_of_traces(store.bodies(chunks), set(traces))
    doc = _summary(row)
    del doc["trace_id"], doc["value"], doc["score"], doc["decision"]
    doc["trace_ids"] = list(dict.fromkeys(t.hex() for t in traces))
    doc["spans"] = spans
    doc["label"] = _label(row)
    return doc


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


def _sql(f: Filters) -> tuple[str, list[Any]]:
    where, params = ["span_id IS NOT NULL"], []
    for column, value in (("model", f.model), ("version", f.version), ("decision", f.decision)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.since_unix_nano is not None:
        where.append("time_unix_nano >= ?")
        params.append(f.since_unix_nano)
    if f.until_unix_nano is not None:
        where.append("time_unix_nano <= ?")
        params.append(f.until_unix_nano)
    if f.value is not None and f.feature is None:
        where.append("(value = ? OR CAST(value AS TEXT) = ?)")
        params += [_number_or_text(f.value), f.value]
    if f.label == "any":
        where.append("label_unix_nano IS NOT NULL")
    elif f.label == "none":
        where.append("label_unix_nano IS NULL")
    elif f.label is not None:
        where.append("(label_value = ? OR CAST(label_value AS TEXT) = ?)")
        params += [_number_or_text(f.label), f.label]
    return (
        f"SELECT {_COLUMNS} FROM pred_predictions WHERE {' AND '.join(where)} ORDER BY rowid DESC",
        params,
    )


def _number_or_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def search(store: PredictionStore, f: Filters) -> dict[str, Any]:
    """Newest arrivals first (the scan walks the table backwards and stops at `limit`, no sort).
    A feature filter reads the inference spans of candidates chunk by chunk and stops after
    `MAX_SCANNED` candidates; the answer then says `"truncated": true`."""
    sql, params = _sql(f)
    if f.feature is None:
        rows = store.query(sql + " LIMIT ?", (*params, f.limit))
        return {"predictions": [_summary(r) for r in rows]}
    keys = {f"ml.feature.{f.feature}", f"ml.feature.{normalize_feature_name(f.feature)}"}
    out: list[dict[str, Any]] = []
    offset, page, scanned = 0, 2000, 0
    while len(out) < f.limit and scanned < MAX_SCANNED:
        rows = store.query(sql + " LIMIT ? OFFSET ?", (*params, page, offset))
        if not rows:
            return {"predictions": out}
        offset += len(rows)
        scanned += len(rows)
        spans = _inference_spans(store, {r[6] for r in rows if r[6] is not None})
        for row in rows:
            span = spans.get((row[1], row[2]))
            if span is not None and _matches(span, keys, f):
                out.append(_summary(row))
                if len(out) >= f.limit:
                    break
    return {"predictions": out, **({"truncated": True} if len(out) < f.limit else {})}


def _inference_spans(store: PredictionStore, chunks: set[int]) -> dict[tuple[bytes, bytes], Any]:
    spans = {}
    for body in store.bodies(chunks):
        for span, _ in iter_spans(body):
            spans[(span.trace_id, span.span_id)] = span
    return spans


def _matches(span: Any, keys: set[str], f: Filters) -> bool:
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
