"""The prediction store: spans of prediction traces in the sidecar's SQLite state database.

Tables (in the same `state.db` as `otelml_collector.state`, own connections, WAL):

- `pred_chunks` — one row per stored batch of spans: a serialized `ExportTraceServiceRequest` holding
  the spans exactly as received (resource, scope, attributes), its span count and arrival time. Spans
  are decoded only when read, so storing a batch costs one row however many spans it holds.
- `pred_traces` — (trace id, chunk): which chunks hold spans of a trace. Indexed by trace id.
- `pred_predictions` — one row per prediction id: trace/span id, model, version, time, value and
  score of its inference span, the decision of its postprocess span, and its label (value, time,
  delay, label trace). Any of them may arrive first; rows are upserted, so the join does not
  depend on arrival order. Indexed by prediction id, trace id and (model, version, time).

Writes: `offer(chunk)` puts a `Chunk` on a bounded queue (count and bytes) and returns at once; one
writer thread commits everything queued in one transaction. A full queue drops the chunk and counts
it (`dropped_chunks`/`dropped_spans`): a slow disk never blocks receiving. After each commit the
writer evicts whole chunks, oldest arrival first, older than `retention` or beyond `max_spans`
(down to 95 % of it); index rows written with those chunks go with them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any

__all__ = ["Chunk", "PredictionStore"]

_log = logging.getLogger("otelml_collector.predstore")
_memory_ids = count()

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pred_chunks (
        id INTEGER PRIMARY KEY,
        received_unix_nano INTEGER NOT NULL,
        spans INTEGER NOT NULL,
        traces_rowid INTEGER NOT NULL,
        predictions_rowid INTEGER NOT NULL,
        body BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pred_chunks_received ON pred_chunks(received_unix_nano)",
    "CREATE TABLE IF NOT EXISTS pred_traces (trace_id BLOB NOT NULL, chunk INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pred_traces_trace ON pred_traces(trace_id)",
    """CREATE TABLE IF NOT EXISTS pred_predictions (
        prediction_id TEXT NOT NULL UNIQUE,
        trace_id BLOB, span_id BLOB, model TEXT, version TEXT, time_unix_nano INTEGER, chunk INTEGER,
        value, score REAL, decision TEXT,
        label_value, label_unix_nano INTEGER, label_delay_s REAL, label_trace_id BLOB)""",
    "CREATE INDEX IF NOT EXISTS pred_predictions_trace ON pred_predictions(trace_id)",
)

_UPSERT_INFERENCE = """INSERT INTO pred_predictions
    (prediction_id, trace_id, span_id, model, version, time_unix_nano, chunk, value, score)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(prediction_id) DO UPDATE SET trace_id=excluded.trace_id, span_id=excluded.span_id,
    model=excluded.model, version=excluded.version, time_unix_nano=excluded.time_unix_nano,
    chunk=excluded.chunk, value=excluded.value, score=excluded.score
    WHERE pred_predictions.span_id IS NULL"""
_UPSERT_DECISION = """INSERT INTO pred_predictions (prediction_id, decision) VALUES (?, ?)
    ON CONFLICT(prediction_id) DO UPDATE SET decision=excluded.decision"""
_UPSERT_LABEL = """INSERT INTO pred_predictions
    (prediction_id, label_value, label_unix_nano, label_delay_s, label_trace_id) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(prediction_id) DO UPDATE SET label_value=excluded.label_value,
    label_unix_nano=excluded.label_unix_nano, label_delay_s=excluded.label_delay_s,
    label_trace_id=excluded.label_trace_id"""


@dataclass
class Chunk:
    """What one received request adds to the store."""

    body: bytes  # serialized ExportTraceServiceRequest of the kept spans, as received
    spans: int
    traces: set[bytes]  # trace ids with spans in `body`
    predictions: list[tuple[Any, ...]] = field(default_factory=list)
    """(prediction id, trace id, span id, model, version, end time ns, value, score) per inference span"""
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

    def _connect(self, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.file, uri=uri, check_same_thread=False, isolation_level=None)
        if not uri:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-32768")
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
        """Commit chunks in one transaction, then evict (called by the writer thread)."""
        conn = self._write_conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for chunk in chunks:
                chunk_id = conn.execute(
                    "INSERT INTO pred_chunks"
                    " (received_unix_nano, spans, traces_rowid, predictions_rowid, body)"
                    " VALUES (?, ?, 0, 0, ?)",
                    (chunk.received_unix_nano, chunk.spans, chunk.body),
                ).lastrowid
                conn.executemany(
                    f"INSERT INTO pred_traces VALUES (?, {chunk_id})", [(t,) for t in chunk.traces]
                )
                if chunk.predictions:
                    conn.executemany(
                        _UPSERT_INFERENCE, [(*p[:6], chunk_id, *p[6:]) for p in chunk.predictions]
                    )
                if chunk.decisions:
                    conn.executemany(_UPSERT_DECISION, chunk.decisions)
                if chunk.labels:
                    conn.executemany(_UPSERT_LABEL, chunk.labels)
                conn.execute(
                    "UPDATE pred_chunks SET traces_rowid=(SELECT coalesce(max(rowid), 0) FROM pred_traces),"
                    " predictions_rowid=(SELECT coalesce(max(rowid), 0) FROM pred_predictions) WHERE id=?",
                    (chunk_id,),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        self._chunks += len(chunks)
        added = sum(c.spans for c in chunks)
        self._spans += added
        self.counts["stored_chunks"] += len(chunks)
        self.counts["stored_spans"] += added
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            n, spans, traces_rowid, preds_rowid = conn.execute(
                "SELECT count(*), coalesce(sum(spans), 0), max(traces_rowid), max(predictions_rowid)"
                " FROM pred_chunks WHERE id <= ?",
                (chunk_id,),
            ).fetchone()
            conn.execute("DELETE FROM pred_chunks WHERE id <= ?", (chunk_id,))
            conn.execute("DELETE FROM pred_traces WHERE rowid <= ?", (traces_rowid or 0,))
            conn.execute("DELETE FROM pred_predictions WHERE rowid <= ?", (preds_rowid or 0,))
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
        rows = self.query(
            "SELECT chunk FROM pred_traces WHERE trace_id=? UNION "
            "SELECT chunk FROM pred_predictions WHERE trace_id=? AND chunk IS NOT NULL",
            (trace_id, trace_id),
        )
        return {int(r[0]) for r in rows}

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
