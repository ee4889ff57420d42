"""HTTP routes of the `predictions` processor (shapes in docs/predictions.md).

- `GET /v1/predictions/{prediction_id}` and `GET /v1/traces/{trace_id}`: 404 `{"error"}` when unknown,
  400 naming the parameter when the id is not hex.
- `GET /v1/predictions?model=&version=&since=&until=&feature=&min=&max=&value=&decision=&label=&limit=`:
  `since`/`until` are Unix seconds, ISO 8601 times or durations before now (`15m`); a malformed value
  answers 400 naming the parameter.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from otelml_collector.configutil import parse_duration
from otelml_collector.httpapi import ApiError, HttpApi
from otelml_collector.predstore.queries import Filters, prediction_document, search, trace_document
from otelml_collector.predstore.store import PredictionStore
from otelml_collector.processors.predictions.explain import explain
from otelml_collector.state import StateStore

__all__ = ["parse_filters", "parse_time", "register"]

_HEX = re.compile(r"^[0-9a-f]+$")
MAX_LIMIT = 10_000
_PARAMS = {
    "model",
    "version",
    "since",
    "until",
    "feature",
    "min",
    "max",
    "value",
    "decision",
    "label",
    "limit",
}


def register(
    api: HttpApi, store: PredictionStore, state: StateStore, stats: Callable[[], dict[str, Any]]
) -> None:
    def one(query: Mapping[str, str]) -> Any:
        pid = query["prediction_id"]
        if not _HEX.match(pid):
            raise ApiError(400, f"prediction_id: expected lowercase hex, got {pid!r}")
        doc = prediction_document(store, pid)
        if doc is None:
            return 404, {"error": f"prediction {pid} is not in the store (unknown, or evicted)"}
        return doc

    def trace(query: Mapping[str, str]) -> Any:
        tid = query["trace_id"]
        if len(tid) != 32 or not _HEX.match(tid):
            raise ApiError(400, f"trace_id: expected 32 lowercase hex digits, got {tid!r}")
        doc = trace_document(store, bytes.fromhex(tid))
        if doc is None:
            return 404, {"error": f"trace {tid} is not in the store (no prediction in it, or evicted)"}
        return doc

    api.add_get("/v1/predictions/{prediction_id}", one)
    api.add_get("/v1/traces/{trace_id}", trace)
    api.add_get("/v1/predictions", lambda query: search(store, parse_filters(query)))
    api.add_get("/v1/predictions/store/stats", lambda query: stats())
    api.add_get("/v1/drift/predictions", lambda query: explain(state, store, query))


def parse_time(text: str, name: str, now: float | None = None) -> int:
    """Unix nanoseconds from Unix seconds, an ISO 8601 time, or a duration before now (`15m`)."""
    now = time.time() if now is None else now
    try:
        seconds = float(text)
        if math.isfinite(seconds):
            return int(seconds * 1e9)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("no time zone")
        return int(parsed.timestamp() * 1e9)
    except ValueError:
        pass
    try:
        return int((now - parse_duration(text, name)) * 1e9)
    except ValueError:
        raise ApiError(
            400,
            f"{name}: expected Unix seconds, an ISO 8601 time with zone or a duration like 15m; got {text!r}",
        ) from None


def _number(query: Mapping[str, str], name: str) -> float | None:
    if name not in query:
        return None
    try:
        value = float(query[name])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ApiError(400, f"{name}: expected a finite number, got {query[name]!r}")
    return value


def parse_filters(query: Mapping[str, str]) -> Filters:
    unknown = sorted(set(query) - _PARAMS)
    if unknown:
        raise ApiError(400, f"{unknown[0]}: unknown parameter (valid: {', '.join(sorted(_PARAMS))})")
    f = Filters(
        model=query.get("model"),
        version=query.get("version"),
        feature=query.get("feature") or None,
        value=query.get("value"),
        decision=query.get("decision"),
        label=query.get("label"),
        min=_number(query, "min"),
        max=_number(query, "max"),
    )
    if (f.min is not None or f.max is not None) and f.feature is None:
        raise ApiError(400, "min/max: need feature=NAME (the feature whose range is searched)")
    if f.min is not None and f.max is not None and f.min > f.max:
        raise ApiError(400, f"min: {f.min} is above max {f.max}")
    for name in ("since", "until"):
        if name in query:
            setattr(f, f"{name}_unix_nano", parse_time(query[name], name))
    if "limit" in query:
        text = query["limit"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise ApiError(400, f"limit: expected an integer from 1 to {MAX_LIMIT}, got {text!r}")
        f.limit = int(text)
    return f
