"""The prediction store: spans of prediction traces in the sidecar's SQLite state database.

Tables (in the same `state.db` as `otelml_collector.state`, own connections, WAL):

- `pred_chunks` — one row per stored batch of spans (usually one received request): a serialized
  `ExportTraceServiceRequest` holding the spans exactly as received (resource, scope, attributes),
  its span count and arrival time, and the batch's inference spans as columns (prediction ids,
  trace/span ids, end times, model/version, values, scores) plus the 64-bit keys of its prediction
  ids and trace ids. Spans are decoded only when read, so storing a batch is one row however many
  spans and predictions it holds.
- `pred_annotations` — one row per prediction id with a decision (`ml.decision` of its postprocess
  span) or a label (value, time, delay, label trace), upserted, so the join does not depend on
  arrival order.

Lookups go through two in-memory `KeyIndex`es (prediction id -> chunks, trace id -> chunks), rebuilt
from the chunk rows at start; one SQLite index insert per prediction cost more than everything else
about storing a span. Searches walk chunks newest first.

Labels of predictions the `performance` processor holds are not written here but read from the
shared `PredictionIndex` (`label_source`, see `predstore.index`), so each label is kept once.

Writes: `offer(chunk)` puts a `Chunk` on a bounded queue (count and bytes) and returns at once; one
writer thread commits everything queued in one transaction. A full queue drops the chunk and counts
it (`dropped_chunks`/`dropped_spans`): a slow disk never blocks receiving. After each commit the
writer evicts whole chunks, oldest arrival first, older than `retention` or beyond `max_spans`
(down to 95 % of it); annotations written with those chunks go with them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import numpy as np

from otelml_collector.predstore.columns import EMPTY, Predictions
from otelml_collector.predstore.keyindex import KeyIndex, prediction_key

__all__ = ["EMPTY", "Chunk", "PredictionStore", "Predictions"]

_log = logging.getLogger("otelml_collector.predstore")
_memory_ids = count()

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pred_chunks (
        id INTEGER PRIMARY KEY,
        received_unix_nano INTEGER NOT NULL,
        spans INTEGER NOT NULL,
        annotations_rowid INTEGER NOT NULL,
        n_predictions INTEGER NOT NULL,
        pids TEXT NOT NULL,          -- prediction ids joined by newlines
        p_trace BLOB NOT NULL,       -- 16 bytes per prediction
        p_span BLOB NOT NULL,        -- 8 bytes per prediction
        p_time BLOB NOT NULL,        -- int64 end time (ns) per prediction
        p_model BLOB NOT NULL,       -- uint16 index into `models` per prediction
        models TEXT NOT NULL,        -- JSON [[model, version], ...]
        p_value TEXT NOT NULL,       -- JSON list of values
        p_score BLOB NOT NULL,       -- float64 per prediction, NaN = none
        pid_keys BLOB NOT NULL,      -- uint64 per prediction
        trace_keys BLOB NOT NULL,    -- uint64 per distinct trace id of the chunk
        body BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pred_chunks_received ON pred_chunks(received_unix_nano)",
    """CREATE TABLE IF NOT EXISTS pred_annotations (
        prediction_id TEXT NOT NULL UNIQUE, decision TEXT,
        label_value, label_unix_nano INTEGER, label_delay_s REAL, label_trace_id BLOB)""",
)

_UPSERT_DECISION = """INSERT INTO pred_annotations (prediction_id, decision) VALUES (?, ?)
    ON CONFLICT(prediction_id) DO UPDATE SET decision=excluded.decision"""
_UPSERT_LABEL = """INSERT INTO pred_annotations
    (prediction_id, label_value, label_unix_nano, label_delay_s, label_trace_id) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(prediction_id) DO UPDATE SET label_value=excluded.label_value,
    label_unix_nano=excluded.label_unix_nano, label_delay_s=excluded.label_delay_s,
    label_trace_id=excluded.label_trace_id"""
_CHUNK_COLUMNS = "id, pids, p_trace, p_span, p_time, p_model, models, p_value, p_score"


@dataclass
class Chunk:
    """What one received request adds to the store."""

    body: bytes  # serialized ExportTraceServiceRequest of the kept spans, as received
    spans: int
    trace_ids: np.ndarray  # uint64 keys of the distinct trace ids with spans in `body`
    predictions: Predictions = field(default_factory=lambda: EMPTY)
    decisions: list[tuple[str, str]] = field(default_factory=list)  # (prediction id, ml.decision)
    labels: list[tuple[Any, ...]] = field(default_factory=list)
    """(prediction id, label value, label time ns, delay s or None, label trace id)"""
    received_unix_nano: int = field(default_factory=time.time_ns)


class PredictionStore:
    """Bounded, persistent store of prediction traces; thread-safe readers, one writer thread."""

    def __init__(
        self,
        file: str,
        retention: float = 86400.0,
        max_spans: int = 1_000_000,
        queue_size: int = 1024,
        queue_max_bytes: int = 64 << 20,
    ) -> None:
        self.retention = retention
        self.max_spans = max_spans
        self.queue_size = queue_size
        self.queue_max_bytes = queue_max_bytes
        if file == ":memory:":  # one shared in-memory database for the writer and the readers
            self.file, uri = f"file:otelml-predstore-{next(_memory_ids)}?mode=memory&cache=shared", True
        else:
            self.file, uri = file, False
        self._write_conn = self._connect(uri)
        for statement in SCHEMA:
            self._write_conn.execute(statement)
        self._read_conn = self._connect(uri)
        self._read_lock = threading.Lock()
        self._queue: deque[Chunk] = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.counts = {
            "stored_chunks": 0,
            "stored_spans": 0,
            "dropped_chunks": 0,
            "dropped_spans": 0,
            "evicted_chunks": 0,
            "evicted_spans": 0,
            "write_errors": 0,
        }
        row = self._write_conn.execute("SELECT count(*), coalesce(sum(spans), 0) FROM pred_chunks").fetchone()
        self._chunks, self._spans = int(row[0]), int(row[1])
        self.label_source: Callable[[list[str]], dict[str, tuple[Any, ...]]] | None = None
        """pid -> (label value, time ns, delay s, label trace id) of labels kept elsewhere (the index)"""
        self.pid_index, self.trace_index = KeyIndex(), KeyIndex()
        for chunk_id, pid_keys, trace_keys in self._write_conn.execute(
            "SELECT id, pid_keys, trace_keys FROM pred_chunks ORDER BY id"
        ):
            self.pid_index.add(np.frombuffer(pid_keys, dtype=np.uint64), chunk_id)
            self.trace_index.add(np.frombuffer(trace_keys, dtype=np.uint64), chunk_id)

    def _connect(self, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.file, uri=uri, check_same_thread=False, isolation_level=None)
        if not uri:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-8192")
        return conn

    # -- writing -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="otelml-predstore", daemon=True)
            self._thread.start()

    def offer(self, chunk: Chunk) -> bool:
        """Queue a chunk for the writer; False (and counted as dropped) when the queue is full."""
        size = len(chunk.body)
        with self._cond:
            if (
                self._closing
                or len(self._queue) >= self.queue_size
                or (self._queue and self._queued_bytes + size > self.queue_max_bytes)
            ):
                self.counts["dropped_chunks"] += 1
                self.counts["dropped_spans"] += chunk.spans
                return False
            self._queue.append(chunk)
            self._queued_bytes += size
            self._cond.notify()
        return True

    def offer_labels(self, labels: list[tuple[Any, ...]]) -> bool:
        """Queue labels (the `Chunk.labels` shape) without spans."""
        return self.offer(Chunk(b"", 0, np.zeros(0, np.uint64), labels=labels))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
                self._queued_bytes = 0
                self._busy = True
            try:
                self.write(batch)
            except sqlite3.Error:
                self.counts["write_errors"] += 1
                self.counts["dropped_chunks"] += len(batch)
                self.counts["dropped_spans"] += sum(c.spans for c in batch)
                _log.exception("prediction store: writing %d chunks failed; they are dropped", len(batch))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def write(self, chunks: list[Chunk]) -> None:
        """Commit chunks in one transaction, index them, then evict (called by the writer thread)."""
        from otelml_collector.predstore.keyindex import prediction_keys

        conn = self._write_conn
        added: list[tuple[int, np.ndarray, np.ndarray]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for chunk in chunks:
                if chunk.decisions:
                    conn.executemany(_UPSERT_DECISION, chunk.decisions)
                if chunk.labels:
                    conn.executemany(_UPSERT_LABEL, chunk.labels)
                p = chunk.predictions
                if not chunk.spans and not len(p):
                    continue  # labels only
                pid_keys = prediction_keys(p.pids) if len(p) else np.zeros(0, np.uint64)
                trace_keys = np.unique(chunk.trace_ids)
                chunk_id = conn.execute(
                    "INSERT INTO pred_chunks (received_unix_nano, spans, annotations_rowid, n_predictions,"
                    " pids, p_trace, p_span, p_time, p_model, models, p_value, p_score, pid_keys, trace_keys,"
                    " body)"
                    " VALUES (?, ?, (SELECT coalesce(max(rowid), 0) FROM pred_annotations),"
                    " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        chunk.received_unix_nano,
                        chunk.spans,
                        len(p),
                        "\n".join(p.pids),
                        p.trace_ids,
                        p.span_ids,
                        p.times.astype(np.int64).tobytes(),
                        p.model_index.astype(np.uint16).tobytes(),
                        json.dumps(p.models),
                        json.dumps(p.values, default=str),
                        p.scores.astype(np.float64).tobytes(),
                        pid_keys.tobytes(),
                        trace_keys.tobytes(),
                        chunk.body,
                    ),
                ).lastrowid
                added.append((int(chunk_id), pid_keys, trace_keys))
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        for chunk_id, pid_keys, trace_keys in added:
            self.pid_index.add(pid_keys, chunk_id)
            self.trace_index.add(trace_keys, chunk_id)
        self._chunks += len(added)
        spans = sum(c.spans for c in chunks)
        self._spans += spans
        self.counts["stored_chunks"] += len(added)
        self.counts["stored_spans"] += spans
        self.evict()

    def evict(self, now_unix_nano: int | None = None) -> None:
        """Drop the oldest chunks: older than `retention`, then beyond `max_spans` (to 95 % of it)."""
        conn = self._write_conn
        now = time.time_ns() if now_unix_nano is None else now_unix_nano
        cutoff = now - int(self.retention * 1e9)
        row = conn.execute(
            "SELECT max(id) FROM pred_chunks WHERE received_unix_nano < ?", (cutoff,)
        ).fetchone()
        last = row[0] if row and row[0] is not None else None
        if self._spans > self.max_spans:
            excess = self._spans - int(self.max_spans * 0.95)
            removed = 0
            for chunk_id, spans in conn.execute(
                "SELECT id, spans FROM pred_chunks WHERE id > ? ORDER BY id", (last or 0,)
            ):
                last, removed = chunk_id, removed + spans
                if removed >= excess:
                    break
        if last is not None:
            self._drop_through(last)

    def _drop_through(self, chunk_id: int) -> None:
        conn = self._write_conn
        # readers stop seeing the chunks first, then the rows go
        self.pid_index.evict_below(chunk_id + 1)
        self.trace_index.evict_below(chunk_id + 1)
        conn.execute("BEGIN IMMEDIATE")
        try:
            n, spans, annotations_rowid = conn.execute(
                "SELECT count(*), coalesce(sum(spans), 0), max(annotations_rowid) FROM pred_chunks"
                " WHERE id <= ?",
                (chunk_id,),
            ).fetchone()
            conn.execute("DELETE FROM pred_chunks WHERE id <= ?", (chunk_id,))
            conn.execute("DELETE FROM pred_annotations WHERE rowid <= ?", (annotations_rowid or 0,))
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        self._chunks -= n
        self._spans -= spans
        self.counts["evicted_chunks"] += n
        self.counts["evicted_spans"] += spans

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to `timeout`), stop the writer, close the database. Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._read_lock:
            self._read_conn.close()
        self._write_conn.close()

    # -- reading -----------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            return self._read_conn.execute(sql, params).fetchall()

    def bodies(self, chunk_ids: set[int]) -> list[bytes]:
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        rows = self.query(f"SELECT body FROM pred_chunks WHERE id IN ({marks}) ORDER BY id", tuple(chunk_ids))
        return [bytes(r[0]) for r in rows]

    def chunks_of_trace(self, trace_id: bytes) -> set[int]:
        return self.trace_index.lookup(int.from_bytes(trace_id[:8], "little"))

    def chunks_of_traces(self, trace_ids: list[bytes]) -> set[int]:
        """Chunks holding spans of any of `trace_ids` (one vectorised index probe)."""
        keys = np.array([int.from_bytes(t[:8], "little") for t in trace_ids], dtype=np.uint64)
        return self.trace_index.lookup_many(keys)

    def chunks_of_prediction(self, prediction_id: str) -> set[int]:
        return self.pid_index.lookup(prediction_key(prediction_id))

    def chunk_predictions(
        self,
        chunk_ids: set[int] | None = None,
        newest_first: bool = False,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, Predictions]]:
        """The prediction columns of the given chunks (or of all, paged with `before`/`limit`)."""
        where, params = "n_predictions > 0", []
        if chunk_ids is not None:
            if not chunk_ids:
                return []
            where += f" AND id IN ({','.join('?' * len(chunk_ids))})"
            params += list(chunk_ids)
        if before is not None:
            where += " AND id < ?"
            params.append(before)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_CHUNK_COLUMNS} FROM pred_chunks WHERE {where} ORDER BY id {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for cid, pids, tr, sp, tm, mi, models, values, scores in self.query(sql, tuple(params)):
            out.append(
                (
                    int(cid),
                    Predictions(
                        pids.split("\n"),
                        bytes(tr),
                        bytes(sp),
                        np.frombuffer(tm, dtype=np.int64),
                        np.frombuffer(mi, dtype=np.uint16),
                        [tuple(m) for m in json.loads(models)],
                        json.loads(values),
                        np.frombuffer(scores, dtype=np.float64),
                    ),
                )
            )
        return out

    def annotations(self, prediction_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """prediction id -> (decision, label value, label time ns, delay s, label trace id)."""
        out: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(prediction_ids), 500):
            part = prediction_ids[i : i + 500]
            rows = self.query(
                "SELECT prediction_id, decision, label_value, label_unix_nano, label_delay_s, label_trace_id "
                f"FROM pred_annotations WHERE prediction_id IN ({','.join('?' * len(part))})",
                tuple(part),
            )
            out.update((r[0], tuple(r[1:])) for r in rows)
        if self.label_source is not None:
            for pid, label in self.label_source(prediction_ids).items():
                out[pid] = (out[pid][0] if pid in out else None, *label)
        return out

    def stats(self) -> dict[str, Any]:
        with self._cond:
            queued = len(self._queue)
        out: dict[str, Any] = dict(self.counts)
        out.update(
            chunks=self._chunks,
            spans=self._spans,
            queued_chunks=queued,
            max_spans=self.max_spans,
            retention_seconds=self.retention,
        )
        return out

    def disk_bytes(self) -> int:
        """Bytes of the store's tables and indexes (SQLite `dbstat`), 0 when unavailable."""
        try:
            rows = self.query("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'pred_%'")
        except sqlite3.Error:
            return 0
        return int(rows[0][0] or 0)
