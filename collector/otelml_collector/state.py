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
"""

from __future__ import annotations

import json
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
        try:
            self._conn = sqlite3.connect(self.file, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ValueError(f"state.path {path!r}: cannot open {self.file}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False

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
        return default if row is None else _decode(row)

    def items(self, namespace: str, prefix: str = "") -> list[tuple[str, Any]]:
        """All (key, value) pairs of a namespace whose key starts with `prefix`, sorted by key."""
        with self._lock:
            rows = self._execute(
                "SELECT key, is_json, value FROM kv WHERE namespace=? AND substr(key, 1, ?)=? ORDER BY key",
                (namespace, len(prefix), prefix),
            ).fetchall()
        return [(key, _decode((is_json, value))) for key, is_json, value in rows]

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


def _decode(row: tuple[int, bytes]) -> Any:
    is_json, value = row
    return json.loads(value) if is_json else bytes(value)
