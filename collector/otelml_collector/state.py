"""Persistent sidecar state: one embedded SQLite database under `state.path`.

Processors keep baselines, open windows, label stores and indexes here so a restart loses
nothing. The API is a namespaced key/value store; values are bytes or anything `json` can encode,
and come back as they went in::

    store = StateStore("/var/lib/otelml")          # creates /var/lib/otelml/state.db
    store.put("drift.baseline", "fraud/3", {"edges": [...]})
    store.get("drift.baseline", "fraud/3")          # -> {"edges": [...]}
    for key, value in store.items("drift.window"): ...
    with store.transaction():                        # all-or-nothing, e.g. a checkpoint
        store.put("drift.window", "fraud/3", blob)
        store.delete("drift.pending", "fraud/3")

The database runs in WAL mode; one connection is shared under a re-entrant lock, so the store
is safe to use from any thread. `path=":memory:"` keeps everything in memory (tests).

A damaged database (not SQLite, truncated to 0 bytes, or failing `PRAGMA quick_check`) is moved aside to
`state.db.damaged-<UTC time>` (with its -wal/-shm files), logged as an error naming both files, and the
sidecar starts with an empty state: forwarding goes on, nothing is overwritten, no crash loop. A single
row that does not decode is logged once and skipped; the other rows load.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DB_FILENAME", "StateStore"]

DB_FILENAME = "state.db"
_log = logging.getLogger("otelml_collector.state")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    is_json INTEGER NOT NULL,
    value BLOB NOT NULL,
    updated_unix_nano INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""


class StateStore:
    """Namespaced key/value store in SQLite (WAL); thread-safe; nested `transaction()`s join the outer one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = os.fspath(path)
        if path == ":memory:":
            self.file = ":memory:"
        else:
            directory = Path(path).expanduser()
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"state.path {path!r}: cannot create directory: {exc.strerror}") from exc
            self.file = str(directory / DB_FILENAME)
        self.moved_aside: str | None = None
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _damaged(exc):
                raise ValueError(f"state.path {path!r}: cannot open {self.file}: {exc}") from exc
            self.moved_aside = _move_aside(self.file, str(exc))
            try:
                self._conn = self._open()
            except sqlite3.Error as again:
                raise ValueError(f"state.path {path!r}: cannot open {self.file}: {again}") from again
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._bad_rows: set[tuple[str, str]] = set()

    def _open(self) -> sqlite3.Connection:
        if self.file != ":memory:" and os.path.exists(self.file) and os.path.getsize(self.file) == 0:
            raise sqlite3.DatabaseError("the file is empty (0 bytes); a database this sidecar wrote never is")
        conn = sqlite3.connect(self.file, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("quick_check: " + "; ".join(problems))
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    # -- writes -------------------------------------------------------------------------------
    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store `value` (bytes/bytearray/memoryview as-is, anything else as JSON) under (namespace, key)."""
        if isinstance(value, bytes | bytearray | memoryview):
            is_json, blob = 0, bytes(value)
        else:
            is_json, blob = 1, json.dumps(value, separators=(",", ":")).encode()
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?)",
                (namespace, key, is_json, blob, time.time_ns()),
            )

    def delete(self, namespace: str, key: str) -> bool:
        """Remove one key; True if it existed."""
        with self._lock:
            return self._execute("DELETE FROM kv WHERE namespace=? AND key=?", (namespace, key)).rowcount > 0

    def clear(self, namespace: str) -> int:
        """Remove every key of a namespace; returns how many."""
        with self._lock:
            return self._execute("DELETE FROM kv WHERE namespace=?", (namespace,)).rowcount

    # -- reads --------------------------------------------------------------------------------
    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._execute(
                "SELECT is_json, value FROM kv WHERE namespace=? AND key=?", (namespace, key)
            ).fetchone()
        return default if row is None else self._decode(namespace, key, row, default)

    def items(self, namespace: str, prefix: str = "") -> list[tuple[str, Any]]:
        """All (key, value) pairs of a namespace whose key starts with `prefix`, sorted by key."""
        with self._lock:
            rows = self._execute(
                "SELECT key, is_json, value FROM kv WHERE namespace=? AND substr(key, 1, ?)=? ORDER BY key",
                (namespace, len(prefix), prefix),
            ).fetchall()
        out = []
        for key, is_json, value in rows:
            decoded = self._decode(namespace, key, (is_json, value), _SKIP)
            if decoded is not _SKIP:
                out.append((key, decoded))
        return out

    def keys(self, namespace: str) -> list[str]:
        with self._lock:
            rows = self._execute("SELECT key FROM kv WHERE namespace=? ORDER BY key", (namespace,)).fetchall()
        return [r[0] for r in rows]

    def namespaces(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._execute("SELECT DISTINCT namespace FROM kv ORDER BY 1").fetchall()]

    # -- transactions and lifecycle -------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[StateStore]:
        """Group writes atomically; rolls back if the block raises. Other threads wait meanwhile."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.rollback()
                raise
            self._depth -= 1
            if outer:
                self._execute("COMMIT")

    def close(self) -> None:
        """Checkpoint and close; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self.file != ":memory:":
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._closed:
            raise RuntimeError(f"state store {self.file} is closed")
        return self._conn.execute(sql, params)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


    def _decode(self, namespace: str, key: str, row: tuple[int, bytes], bad: Any = None) -> Any:
        is_json, value = row
        try:
            return json.loads(value) if is_json else bytes(value)
        except (ValueError, TypeError) as exc:
            if (namespace, key) not in self._bad_rows:
                self._bad_rows.add((namespace, key))
                _log.error("state %s: row %s/%s does not decode (%s); skipped, the other rows load",
                           self.file, namespace, key, exc)
            return bad


_SKIP = object()


def _damaged(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(m in text for m in ("malformed", "not a database", "quick_check", "0 bytes", "corrupt"))


def _move_aside(file: str, reason: str) -> str:
    """Rename a damaged database and its WAL/SHM files; returns the new name of the database."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = f"{file}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(file + suffix):
            os.replace(file + suffix, target + suffix)
    _log.error("state database %s is damaged (%s); moved it aside to %s and started with an empty state. "
               "Inspect or restore it with `sqlite3 %s .recover`; delete it once no longer needed",
               file, reason, target, target)
    return target
