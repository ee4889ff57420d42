"""The `predictions` processor: picks the spans of prediction traces out of each traces request.

A trace holds a prediction when one of its spans carries `ml.prediction.id`: the inference spans
`ml_extract` already read (their `ModelBatch` rows give id, model, version, value, score), the
other otelml spans (`feature_lookup …`, `postprocess …`, `label …`, recognised by name) and any span
whose attributes carry the key. Every span of such a trace is kept — HTTP, database and other
services' spans included. Spans of a trace not known (yet) to hold a prediction wait in a pending
buffer keyed by trace id (bounded by `pending.max_spans` and `pending.seconds`): an upstream
service's server span that is exported before or after the inference span's batch still joins
its trace. Trace ids stored recently are remembered (`known_traces`), so later spans of them are
kept at once. Kept spans go to the store's writer queue as one chunk per request; the receive path
never waits for the disk. Labels are matched by the sidecar's one `PredictionIndex` (shared with the
`performance` processor when both run); the store keeps those the index hands it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelml_collector import predstore
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.predstore.documents import any_value
from otelml_collector.predstore.index import labels_of, open_index, plain_value, release_index
from otelml_collector.predstore.keyindex import trace_keys
from otelml_collector.processors.predictions import api
from otelml_collector.processors.predictions.config import PredictionsConfig
from otelml_collector.records import ModelBatch

__all__ = ["PredictionsProcessor"]

_log = logging.getLogger("otelml_collector.processors.predictions")
KEY = "ml.prediction.id"
KEY_BYTES = KEY.encode()
OPERATIONS = frozenset({"feature_lookup", "inference", "postprocess", "label"})


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def inference_rows(records: list[ModelBatch]) -> dict[bytes, tuple[Any, ...]]:
    """span id -> (prediction id, model, version, end time ns, value, score) of the first row of every
    inference span `ml_extract` read."""
    out: dict[bytes, tuple[Any, ...]] = {}
    for batch in records:
        sids = batch.span_id.tobytes()
        times = batch.time_unix_nano.tolist()
        n = len(times)
        values = batch.prediction_value.tolist() if batch.prediction_value is not None else [None] * n
        scores = batch.prediction_score.tolist() if batch.prediction_score is not None else [None] * n
        for i, pid in enumerate(batch.prediction_id):
            if pid is None:
                continue
            sid = sids[8 * i : 8 * i + 8]
            if sid not in out:
                out[sid] = (pid, batch.model, batch.version, times[i], _scalar(values[i]), _scalar(scores[i]))
    return out


class PredictionsProcessor:
    def __init__(self, config: PredictionsConfig, ctx: ComponentContext) -> None:
        self.config = config
        self._ctx = ctx
        self.store = predstore.open_store(
            ctx.state.file,
            retention=config.retention,
            max_spans=config.max_spans,
            queue_size=config.queue_size,
        )
        self.index = open_index(ctx.state)
        self.index.attach_store(self.store)
        self._known: OrderedDict[bytes, None] = OrderedDict()
        self._pending: OrderedDict[bytes, list[tuple[float, bytes]]] = OrderedDict()
        self._pending_spans = 0
        self.counts = {"pending_expired": 0, "pending_overflow": 0}
        self._started = False

    def start(self) -> None:
        self.store.start()
        if self._ctx.http_api is not None:
            api.register(self._ctx.http_api, self.store, self._ctx.state, self.stats)
        self._started = True

    def shutdown(self) -> None:
        if self._started:
            self._started = False
            release_index(self.index)
            predstore.release(self.store)

    def stats(self) -> dict[str, Any]:
        return {
            **self.store.stats(),
            **self.counts,
            "pending_spans": self._pending_spans,
            "disk_bytes": self.store.disk_bytes(),
        }

    def flush(self, timeout: float = 10.0) -> bool:
        return self.store.flush(timeout)

    # -- the hot path ------------------------------------------------------------------------------
    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal == Signal.TRACES:
            chunk = self.select(request)
            if chunk is not None:
                self.store.offer(chunk)
        return request

    def select(self, request: TelemetryRequest) -> predstore.Chunk | None:
        """The chunk of spans of this request to store (None if none), updating the pending buffer."""
        if request.records:
            chunk = self._select_inference_only(request)
            if chunk is not None:
                return chunk
        elif request.unmodified_bytes() is not None:
            chunk = self._select_labels_only(request)
            if chunk is not None:
                return chunk
        inference = inference_rows(request.records) if request.records else {}
        raw = request.unmodified_bytes()
        scan_attributes = raw is None or KEY_BYTES in raw
        message = request.message
        holding: set[bytes] = set()
        predictions: list[tuple[Any, ...]] = []
        decisions: list[tuple[str, str]] = []
        label_traces = {label[4] for label in labels_of(request)}
        labels = self.index.take_stored(request) if label_traces else []
        spans: list[tuple[bytes, int, int, Any]] = []
        for r, rs in enumerate(message.resource_spans):
            for s, ss in enumerate(rs.scope_spans):
                for span in ss.spans:
                    tid = span.trace_id
                    spans.append((tid, r, s, span))
                    row = inference.get(span.span_id) if inference else None
                    if row is not None:
                        predictions.append((row[0], tid, span.span_id, *row[1:]))
                        holding.add(tid)
                    elif tid in label_traces and span.name.startswith("label "):
                        holding.add(tid)
                    elif scan_attributes and (
                        span.name.partition(" ")[0] in OPERATIONS or KEY_BYTES in span.SerializeToString()
                    ):
                        self._read_otelml_span(span, holding, predictions, decisions)
        self._expire_pending()
        known = self._known
        for tid in holding:
            known[tid] = None
        while len(known) > self.config.known_traces:
            known.popitem(last=False)
        kept = [item for item in spans if item[0] in known]
        if len(kept) == len(spans):
            body = raw if raw is not None else message.SerializeToString()
        else:
            for tid, r, s, span in spans:
                if tid not in known:
                    self._hold(tid, message.resource_spans[r], message.resource_spans[r].scope_spans[s], span)
            body = _subset(message, kept) if kept else b""
        joined = [tid for tid in holding if tid in self._pending]
        released = [piece for tid in joined for piece in self._release(tid)]
        n = len(kept) + len(released)
        if n == 0:
            return None
        if released:
            body = body + b"".join(released)  # concatenated requests parse as one (repeated fields merge)
        traces = {item[0] for item in kept}
        traces.update(joined)
        keys = trace_keys(b"".join(traces))
        rows = predstore.Predictions.from_rows(predictions) if predictions else predstore.EMPTY
        return predstore.Chunk(body, n, keys, rows, decisions, labels)

    def _select_inference_only(self, request: TelemetryRequest) -> predstore.Chunk | None:
        """The common case without decoding the request: every span is an inference span that
        `ml_extract` read, each with a prediction id, so the whole request is kept as received."""
        records = request.records
        if sum(len(b) for b in records) != request.items:
            return None
        pids = [pid for b in records for pid in b.prediction_id]
        if None in pids:
            return None
        tids = np.concatenate([b.trace_id for b in records]) if len(records) > 1 else records[0].trace_id
        sids = np.concatenate([b.span_id for b in records]) if len(records) > 1 else records[0].span_id
        if len(np.unique(np.ascontiguousarray(sids).view("<u8"))) != request.items:
            return None  # array-valued (batch) rows share a span: some other span has no record
        parts = []
        for b in records:
            n = len(b)
            values = b.prediction_value.tolist() if b.prediction_value is not None else [None] * n
            scores = b.prediction_score if b.prediction_score is not None else np.full(n, np.nan)
            parts.append(
                predstore.Predictions(
                    list(b.prediction_id),
                    b.trace_id.tobytes(),
                    b.span_id.tobytes(),
                    b.time_unix_nano,
                    np.zeros(n, np.uint16),
                    [(b.model, b.version)],
                    _nan_to_none(values),
                    scores,
                )
            )
        rows = predstore.Predictions.concat(parts)
        known = self._known
        tid_bytes = rows.trace_ids
        trace_list = [tid_bytes[16 * i : 16 * i + 16] for i in range(len(pids))]
        known.update(dict.fromkeys(trace_list))
        while len(known) > self.config.known_traces:
            known.popitem(last=False)
        self._expire_pending()
        raw = request.unmodified_bytes()
        body = raw if raw is not None else request.message.SerializeToString()
        n = request.items
        if self._pending:
            released = [
                piece for tid in set(trace_list) if tid in self._pending for piece in self._release(tid)
            ]
            if released:
                body, n = body + b"".join(released), n + len(released)
        keys = np.ascontiguousarray(tids).view("<u8")[:, 0].copy()
        return predstore.Chunk(body, n, keys, rows)

    def _select_labels_only(self, request: TelemetryRequest) -> predstore.Chunk | None:
        """The other common case: every span is a label span (a labelling service's batch), each
        its own trace, so the whole request is kept as received without walking its spans again."""
        found = labels_of(request)
        if len(found) != request.items:
            return None
        traces = list(dict.fromkeys(label[4] for label in found))
        if any(len(t) != 16 for t in traces):
            return None
        labels = self.index.take_stored(request)
        known = self._known
        known.update(dict.fromkeys(traces))
        while len(known) > self.config.known_traces:
            known.popitem(last=False)
        self._expire_pending()
        body, n = request.unmodified_bytes() or b"", request.items
        if self._pending:
            released = [piece for tid in traces if tid in self._pending for piece in self._release(tid)]
            if released:
                body, n = body + b"".join(released), n + len(released)
        return predstore.Chunk(body, n, trace_keys(b"".join(traces)), predstore.EMPTY, [], labels)

    def _read_otelml_span(
        self,
        span: Any,
        holding: set[bytes],
        predictions: list[tuple[Any, ...]],
        decisions: list[tuple[str, str]],
    ) -> None:
        attrs = {kv.key: kv.value for kv in span.attributes}
        if KEY not in attrs:
            return
        pid = any_value(attrs[KEY])
        if not isinstance(pid, str) or not pid:
            return
        tid = span.trace_id
        holding.add(tid)
        op = (
            any_value(attrs["ml.operation.name"])
            if "ml.operation.name" in attrs
            else span.name.partition(" ")[0]
        )
        get = lambda key: any_value(attrs[key]) if key in attrs else None  # noqa: E731
        if op == "inference":
            value, score = get("ml.prediction.value"), get("ml.prediction.score")
            value = value[0] if isinstance(value, list) and value else value
            score = score[0] if isinstance(score, list) and score else score
            predictions.append(
                (
                    pid,
                    tid,
                    span.span_id,
                    get("ml.model.name"),
                    str(get("ml.model.version") or ""),
                    span.end_time_unix_nano,
                    plain_value(value),
                    plain_value(score),
                )
            )
        elif op == "postprocess" and "ml.decision" in attrs:
            decisions.append((pid, str(get("ml.decision"))))

    # -- pending spans of traces not known to hold a prediction --------------------------------------
    def _hold(self, tid: bytes, rs: Any, ss: Any, span: Any) -> None:
        piece = ExportTraceServiceRequest()
        out_rs = piece.resource_spans.add()
        out_rs.resource.CopyFrom(rs.resource)
        out_ss = out_rs.scope_spans.add()
        out_ss.scope.CopyFrom(ss.scope)
        out_ss.spans.add().CopyFrom(span)
        self._pending.setdefault(tid, []).append((time.monotonic(), piece.SerializeToString()))
        self._pending_spans += 1
        while self._pending_spans > self.config.pending.max_spans:
            _, pieces = self._pending.popitem(last=False)
            self._pending_spans -= len(pieces)
            self.counts["pending_overflow"] += len(pieces)

    def _release(self, tid: bytes) -> list[bytes]:
        pieces = self._pending.pop(tid, [])
        self._pending_spans -= len(pieces)
        return [p for _, p in pieces]

    def _expire_pending(self) -> None:
        if not self._pending:
            return
        cutoff = time.monotonic() - self.config.pending.seconds
        while self._pending:
            tid, pieces = next(iter(self._pending.items()))
            if pieces[0][0] >= cutoff:
                return
            del self._pending[tid]
            self._pending_spans -= len(pieces)
            self.counts["pending_expired"] += len(pieces)


def _nan_to_none(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def _subset(message: Any, kept: list[tuple[bytes, int, int, Any]]) -> bytes:
    out = ExportTraceServiceRequest()
    groups: dict[tuple[int, int], Any] = {}
    resources: dict[int, Any] = {}
    for _, r, s, span in kept:
        target = groups.get((r, s))
        if target is None:
            if r not in resources:
                rs = resources[r] = out.resource_spans.add()
                rs.resource.CopyFrom(message.resource_spans[r].resource)
                rs.schema_url = message.resource_spans[r].schema_url
            target = groups[(r, s)] = resources[r].scope_spans.add()
            target.scope.CopyFrom(message.resource_spans[r].scope_spans[s].scope)
        target.spans.add().CopyFrom(span)
    return out.SerializeToString()
