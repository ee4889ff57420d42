"""The prediction store shared by the `predictions` and `performance` processors (SQLite, `state.db`).

`store` writes and evicts, `queries` reads the API's documents, `documents` turns stored spans into
JSON. One store per database file: `open_store` hands the same instance to every processor of a
sidecar that asks for it (refcounted; the last `release` closes it).
"""

from __future__ import annotations

import threading
from typing import Any

from otelml_collector.predstore.store import EMPTY, Chunk, Predictions, PredictionStore

__all__ = ["EMPTY", "Chunk", "PredictionStore", "Predictions", "open_store", "release"]

_lock = threading.Lock()
_open: dict[str, tuple[PredictionStore, int]] = {}


def open_store(file: str, **options: Any) -> PredictionStore:
    """The store of database `file`, created with `options` by the first caller (an in-memory
    database, `:memory:`, is never shared)."""
    with _lock:
        if file != ":memory:" and file in _open:
            store, refs = _open[file]
            _open[file] = (store, refs + 1)
            return store
        store = PredictionStore(file, **options)
        if file != ":memory:":
            _open[file] = (store, 1)
        return store


def release(store: PredictionStore, timeout: float = 10.0) -> None:
    """Give a store back; the last holder closes it."""
    with _lock:
        for file, (held, refs) in list(_open.items()):
            if held is store:
                if refs > 1:
                    _open[file] = (held, refs - 1)
                    return
                del _open[file]
    store.close(timeout)
