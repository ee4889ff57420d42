"""Extension `file_storage`: a directory where exporters keep their sending queue on disk.

    extensions:
      file_storage:
        directory: /var/lib/otelml/queue
        fsync: false            # true: fsync every commit (survives power loss, slower)
    exporters:
      otlp:
        sending_queue: {storage: file_storage, queue_size: 5000}
    service:
      extensions: [file_storage]

Each exporter gets one SQLite database (`<directory>/exporter_<name>.db`, WAL mode), one row per
queued request. `put` commits the row before it returns, so a request whose client was answered
is on disk; with `fsync: false` a committed row survives a crash or SIGKILL of the sidecar (the
WAL is in the OS page cache), with `fsync: true` also a power loss. A row is deleted only after the
downstream acknowledged it (or refused it for good); rows being sent when the process died are
sent again on the next start (at-least-once delivery).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from otelml_collector import registry
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping

__all__ = ["DiskQueue", "FileStorage", "FileStorageConfig", "FileStorageFactory", "QueuedRequest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal TEXT NOT NULL,
    items INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


@dataclass
class FileStorageConfig(ComponentConfig):
    directory: str = ".otelml-queue"
    fsync: bool = False

    def validate(self) -> None:
        if not str(self.directory).strip():
            raise ValueError("directory: must not be empty")


@dataclass
class QueuedRequest:
    signal: str
    items: int
    size: int
    key: int = 0  # row id on disk (0: in memory only)
    payload: bytes = b""


class DiskQueue:
    """A FIFO of requests in one SQLite database; thread-safe. Bounds are the caller's to check
    (`requests`, `bytes`) against what is on disk, including rows being sent."""

    def __init__(self, file: str, fsync: bool = False) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._closed = False
        self._conn = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._conn.execute(_SCHEMA)
        rows = self._conn.execute("SELECT id, signal, items, length(payload) FROM queue ORDER BY id")
        self._pending: deque[QueuedRequest] = deque(
            QueuedRequest(signal, items, size, key) for key, signal, items, size in rows
        )
        self.requests = len(self._pending)  # rows on disk: pending + being sent
        self.bytes = sum(r.size for r in self._pending)
        self.recovered = self.requests  # rows found at start (left by the previous run)

    def put(self, signal: str, items: int, payload: bytes) -> QueuedRequest:
        """Append and commit; returns once the row is in the database."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO queue (signal, items, payload) VALUES (?, ?, ?)", (signal, items, payload)
            )
            entry = QueuedRequest(signal, items, len(payload), int(cur.lastrowid or 0))
            self._pending.append(entry)
            self.requests += 1
            self.bytes += entry.size
            return entry

    def pending(self) -> int:
        return len(self._pending)

    def take(self) -> QueuedRequest | None:
        """The oldest request not being sent, with its payload (None when there is none)."""
        with self._lock:
            if not self._pending:
                return None
            entry = self._pending.popleft()
            row = self._conn.execute("SELECT payload FROM queue WHERE id = ?", (entry.key,)).fetchone()
        entry.payload = bytes(row[0]) if row else b""
        return entry

    def release(self, entry: QueuedRequest) -> None:
        """Put a request being sent back at the front (it stays on disk; sent again later)."""
        entry.payload = b""
        with self._lock:
            self._pending.appendleft(entry)

    def remove(self, entry: QueuedRequest) -> None:
        """Delete a delivered (or given-up) request."""
        with self._lock:
            self._conn.execute("DELETE FROM queue WHERE id = ?", (entry.key,))
            self.requests -= 1
            self.bytes -= entry.size

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()


class FileStorage:
    """The running extension: hands each exporter its own `DiskQueue`."""

    def __init__(self, config: FileStorageConfig, name: str = "file_storage") -> None:
        self.config = config
        self.name = name
        self.directory = Path(config.directory).expanduser()
        self._queues: list[DiskQueue] = []

    def start(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"extensions.{self.name}.directory {str(self.directory)!r}: cannot create: {exc.strerror}"
            ) from exc
        if not os.access(self.directory, os.W_OK):
            raise ValueError(f"extensions.{self.name}.directory {str(self.directory)!r}: not writable")

    def queue(self, owner: str) -> DiskQueue:
        """The queue database of component `owner` (e.g. `exporter_otlp`)."""
        self.start()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in owner)
        queue = DiskQueue(str(self.directory / f"{safe}.db"), self.config.fsync)
        self._queues.append(queue)
        return queue

    def shutdown(self) -> None:
        for queue in self._queues:
            queue.close()
        self._queues.clear()


class FileStorageFactory:
    type: ClassVar[str] = "file_storage"
    kind: ClassVar[str] = "extension"
    storage: ClassVar[bool] = True  # exporters may name it in sending_queue.storage

    def default_config(self) -> FileStorageConfig:
        return FileStorageConfig()

    def config_from_dict(self, raw: dict[str, Any] | None) -> FileStorageConfig:
        return from_mapping(FileStorageConfig, raw)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> FileStorage:
        assert isinstance(config, FileStorageConfig)
        return FileStorage(config, ctx.name)


registry.register(FileStorageFactory())
