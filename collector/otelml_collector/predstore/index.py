"""The prediction index: the one label join of a sidecar, shared by `predictions` and `performance`.

One `PredictionIndex` per state database (`open_index(state)`, refcounted like `open_store`). Each
`label {model}` span is read once per request (`labels_of`, cached on the request) and matched once
(`join`), whichever of the two processors sees the request first. Every label then lives in exactly
one place:

- **held**: its prediction is in a kept window of the in-memory reader (`performance`): the value is
  the window's row, the label's time, delay and trace id are in `meta`; both are persisted with the
  performance checkpoint. `GET /v1/predictions/{id}` reads it from here (`PredictionStore.label_source`).
- **pending**: no prediction known yet: kept in memory (at most `max_pending`, at most
  `max_label_delay` after arrival), persisted with the checkpoint, joined when the reader adds the
  prediction.
- **stored**: the prediction is not held but the prediction store may have it (its key index says so),
  or no in-memory reader is configured: upserted into the store's `pred_annotations` by its writer.
  Such a label also waits as pending while a reader is configured, since the reader may hold the
  prediction a moment later (another receiver thread between the two processors); if it does, the
  held copy is the one both read.

When the reader forgets a window (`max_windows`), `release` hands the labels of its rows to the
store if the store still keeps their prediction, so a row stays while the store retains its spans
or performance still needs it; memory is bounded by the reader's windows plus `max_pending`.
Without `predictions` the index has one reader; without `performance` every label is stored.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from otelml_collector.otlp.fastscan import scan_labels
from otelml_collector.pipeline import TelemetryRequest
from otelml_collector.predstore.documents import any_value
from otelml_collector.predstore.keyindex import prediction_keys
from otelml_collector.predstore.store import PredictionStore

__all__ = [
    "LABEL_MARKER",
    "Label",
    "LabelReader",
    "PredictionIndex",
    "labels_of",
    "labels_reference",
    "open_index",
    "plain_value",
    "release_index",
]

LABEL_MARKER = b"\x0a\x11ml.operation.name\x12\x07\x0a\x05label"  # the KeyValue as OTLP encodes it
NS_INDEX = "predictions.index"
NS_PENDING = "performance.pending"  # where the pending labels were kept before the index (same shape)
Label = tuple[str, Any, int, float | None, bytes]
"""(prediction id, label value, label span end time ns, `ml.label.delay` s or None, label trace id)"""
_MISSING = object()
_SCALARS = frozenset({"int_value", "double_value", "bool_value", "string_value"})
_NUMBERS = frozenset({"int_value", "double_value", "bool_value"})


class LabelReader(Protocol):
    """An in-memory reader of the index (the `performance` processor)."""

    def on_label(self, pid: str, positions: Any, value: Any, at_ns: int, delay: float | None) -> bool:
        """Write a label into the reader's rows; False when the reader refuses it (wrong type)."""

    def label_value(self, positions: Any) -> Any: ...


def labels_of(request: TelemetryRequest) -> list[Label]:
    """The `label {model}` spans of a traces request with a prediction id and a value, read once (by
    the C scan when it is built, else or when it declines by `labels_reference`)."""
    cached = request.labels
    if cached is not None:
        return cached
    out: list[Label] = []
    raw = request.unmodified_bytes()
    every_span_inference = request.records and sum(len(b) for b in request.records) >= request.items
    if not every_span_inference and (raw is None or LABEL_MARKER in raw):
        fast = scan_labels(raw) if raw is not None else None
        out = fast if fast is not None else labels_reference(request.message)
    request.labels = out
    return out


def labels_reference(message: Any) -> list[Label]:
    """`labels_of` on a decoded ExportTraceServiceRequest: the definition the C scan follows."""
    out: list[Label] = []
    for rs in message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if not span.name.startswith("label "):
                    continue
                pid = delay = None
                value: Any = _MISSING
                for kv in span.attributes:
                    key = kv.key
                    if key == "ml.prediction.id":
                        v = kv.value
                        pid = v.string_value if v.WhichOneof("value") == "string_value" else None
                    elif key == "ml.label.value":
                        v = kv.value
                        kind = v.WhichOneof("value")
                        value = getattr(v, kind) if kind in _SCALARS else any_value(v)
                    elif key == "ml.label.delay":
                        v = kv.value
                        kind = v.WhichOneof("value")
                        delay = float(getattr(v, kind)) if kind in _NUMBERS else None
                if pid and value is not _MISSING:
                    out.append((pid, value, span.end_time_unix_nano, delay, span.trace_id))
    return out


class PredictionIndex:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.rows: dict[str, Any] = {}  # prediction id -> the reader's positions of its row(s)
        self.meta: dict[str, tuple[int, float | None, bytes]] = {}  # held labels: (time ns, delay, trace)
        self.pending: OrderedDict[str, tuple[Any, int, float | None, int, bytes]] = OrderedDict()
        """prediction id -> (value, label time ns, delay s, arrival ns, label trace id)"""
        self.max_pending = 100_000
        self.max_label_delay = 30 * 86400.0
        self.reader: LabelReader | None = None
        self.store: PredictionStore | None = None
        self.counts = {"labels": 0, "labels_pending": 0, "labels_expired": 0, "labels_stored": 0}
        self._restore()

    # -- readers -------------------------------------------------------------------------------------
    def attach_reader(self, reader: LabelReader, max_pending: int, max_label_delay: float) -> None:
        with self.lock:
            self.reader, self.max_pending, self.max_label_delay = reader, max_pending, max_label_delay
            for pid in [pid for pid in self.meta if pid not in self.rows]:  # rows restored by the reader
                del self.meta[pid]

    def attach_store(self, store: PredictionStore) -> None:
        with self.lock:
            self.store = store
            store.label_source = self.held_labels

    # -- the join ------------------------------------------------------------------------------------
    def join(self, request: TelemetryRequest) -> None:
        """Match the request's labels (once per request, whichever processor comes first)."""
        labels = labels_of(request)
        if not labels:
            return
        with self.lock:
            if request.labels_stored is not None:
                return
            self.counts["labels"] += len(labels)
            to_store: list[Label] = []
            unknown: list[Label] = []
            rows, pending, meta = self.rows, self.pending, self.meta
            on_label = self.reader.on_label if self.reader is not None else None
            keep_meta = self.store is not None  # the label's time/delay/trace are for the store's API
            for label in labels:
                pid = label[0]
                positions = rows.get(pid) if on_label is not None else None
                if positions is None:
                    unknown.append(label)
                elif on_label(pid, positions, label[1], label[2], label[3]):  # type: ignore[misc]
                    if keep_meta:
                        meta[pid] = (label[2], label[3], label[4])
                    if pending and pid in pending:
                        self.claim(pid)
                else:
                    to_store.append(label)
            if unknown:
                if self.reader is None:
                    to_store += unknown
                else:
                    maybe_stored = self._store_has([label[0] for label in unknown])
                    for label, stored in zip(unknown, maybe_stored, strict=True):
                        if stored:  # the store has it; the reader may be about to add it (another
                            to_store.append(label)  # receiver thread between the two processors)
                        self._pend(label)
            if self.store is None:
                to_store = []
            self.counts["labels_stored"] += len(to_store)
            request.labels_stored = to_store

    def take_stored(self, request: TelemetryRequest) -> list[Label]:
        """The labels of `request` the prediction store is to keep (the `predictions` processor's)."""
        self.join(request)
        return [_storable(label) for label in request.labels_stored or ()]

    def _store_has(self, pids: list[str]) -> list[bool]:
        if self.store is None:
            return [False] * len(pids)
        return self.store.pid_index.contains_many(prediction_keys(pids)).tolist()

    def _pend(self, label: Label) -> None:
        pid, value, at_ns, delay, tid = label
        if pid not in self.pending:
            self.counts["labels_pending"] += 1
        self.pending[pid] = (value, at_ns, delay, time.time_ns(), tid)
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
            self.counts["labels_pending"] -= 1
            self.counts["labels_expired"] += 1

    def claim(self, pid: str) -> tuple[Any, int, float | None, bytes] | None:
        """The pending label of a prediction the reader now holds (removed from pending)."""
        got = self.pending.pop(pid, None)
        if got is None:
            return None
        self.counts["labels_pending"] -= 1
        value, at_ns, delay, _, tid = got
        return value, at_ns, delay, tid

    def held(self, pid: str, at_ns: int, delay: float | None, tid: bytes) -> None:
        if self.store is not None:
            self.meta[pid] = (at_ns, delay, tid)

    def expire(self) -> None:
        """Drop pending labels older than `max_label_delay` (by arrival)."""
        cutoff = time.time_ns() - int(self.max_label_delay * 1e9)
        pending = self.pending
        while pending:
            pid, got = next(iter(pending.items()))
            if got[3] >= cutoff:
                break
            del pending[pid]
            self.counts["labels_pending"] -= 1
            self.counts["labels_expired"] += 1

    def release(self, pids: list[str]) -> None:
        """The reader no longer holds these predictions: their labels go to the store if it still keeps
        the prediction, else they are dropped with the row."""
        handed: list[Label] = []
        reader = self.reader
        for pid in pids:
            positions = self.rows.pop(pid, None)
            meta = self.meta.pop(pid, None)
            if meta is not None and positions is not None and reader is not None and self.store is not None:
                handed.append((pid, reader.label_value(positions), *meta))
        if handed:
            keep = self._store_has([label[0] for label in handed])
            labels = [label for label, k in zip(handed, keep, strict=True) if k]
            if labels:
                self.store.offer_labels([_storable(label) for label in labels])  # type: ignore[union-attr]

    def held_labels(self, pids: list[str]) -> dict[str, tuple[Any, int, float | None, bytes]]:
        """pid -> (value, time ns, delay s, label trace id) of the held labels among `pids`."""
        out = {}
        with self.lock:
            for pid in pids:
                meta = self.meta.get(pid)
                positions = self.rows.get(pid)
                if meta is not None and positions is not None and self.reader is not None:
                    out[pid] = (plain_value(self.reader.label_value(positions)), *meta)
        return out

    # -- persistence ---------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Write pending labels and the held labels' meta (call inside the state's transaction)."""
        state = self.state
        state.put(NS_PENDING, "labels", [[pid, *v[:4], v[4].hex()] for pid, v in self.pending.items()])
        meta = [[pid, at, delay, tid.hex()] for pid, (at, delay, tid) in self.meta.items()]
        state.put(NS_INDEX, "meta", meta)
        state.put(NS_INDEX, "counts", self.counts)

    def _restore(self) -> None:
        for pid, value, at_ns, delay, arrived, *tid in self.state.get(NS_PENDING, "labels", []):
            self.pending[pid] = (value, at_ns, delay, arrived, bytes.fromhex(tid[0]) if tid else b"")
        for pid, at_ns, delay, tid in self.state.get(NS_INDEX, "meta", []):
            self.meta[pid] = (at_ns, delay, bytes.fromhex(tid))
        self.counts.update(self.state.get(NS_INDEX, "counts", {}))
        self.counts["labels_pending"] = len(self.pending)


def plain_value(value: Any) -> Any:
    """A label or prediction value as SQLite/JSON stores it: bools as 0/1, other non-scalars as text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def _storable(label: Label) -> Label:
    return (label[0], plain_value(label[1]), *label[2:])  # type: ignore[return-value]


_lock = threading.Lock()
_open: dict[int, tuple[PredictionIndex, int]] = {}


def open_index(state: Any) -> PredictionIndex:
    """The index of a sidecar's state database (the same `StateStore` object gives the same index)."""
    with _lock:
        index, refs = _open.get(id(state), (None, 0))
        if index is None or index.state is not state:
            index, refs = PredictionIndex(state), 0
        _open[id(state)] = (index, refs + 1)
        return index


def release_index(index: PredictionIndex) -> None:
    with _lock:
        held, refs = _open.get(id(index.state), (None, 0))
        if held is index:
            if refs > 1:
                _open[id(index.state)] = (held, refs - 1)
            else:
                del _open[id(index.state)]

