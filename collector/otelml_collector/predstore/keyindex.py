"""An in-memory index from 64-bit keys to chunk ids: sorted numpy runs merged like a binary counter.

Adding a chunk's keys appends one sorted run; whenever the newest run is at least half the size of
the one before, the two are merged (so there are O(log n) runs and each key is merged O(log n)
times, all in numpy). A lookup binary-searches every run. Keys of evicted chunks are dropped lazily:
lookups ignore chunk ids below `floor`, merges remove them. This replaces one SQLite B-tree insert
per prediction and per trace (the dominant cost of storing a span) with vectorised work per chunk;
memory is 16 bytes per key, bounded by the store's `max_spans`.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

__all__ = ["KeyIndex", "prediction_key", "prediction_keys", "trace_keys"]


def prediction_key(pid: str) -> int:
    """The 64-bit key of a prediction id: its first 8 bytes when it is 32 hex digits (the library's
    ids), else a BLAKE2b hash. Collisions only cost a wasted chunk read: lookups compare full ids."""
    if len(pid) == 32:
        try:
            return int.from_bytes(bytes.fromhex(pid)[:8], "little")
        except ValueError:
            pass
    return int.from_bytes(hashlib.blake2b(pid.encode(), digest_size=8).digest(), "little")


def prediction_keys(pids: list[str]) -> np.ndarray:
    joined = "".join(pids)
    if len(joined) == 32 * len(pids):
        try:
            return np.frombuffer(bytes.fromhex(joined), dtype="<u8")[::2].copy()
        except ValueError:
            pass
    return np.array([prediction_key(p) for p in pids], dtype=np.uint64)


def trace_keys(trace_ids: bytes) -> np.ndarray:
    """Keys of concatenated 16-byte trace ids: their first 8 bytes."""
    return np.frombuffer(trace_ids, dtype="<u8")[::2].copy()


class KeyIndex:
    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys uint64, chunk ids int64)
        self._lock = threading.Lock()
        self.floor = 0  # chunk ids below this are evicted

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self._runs)

    def add(self, keys: np.ndarray, chunk_id: int) -> None:
        if not len(keys):
            return
        keys = np.sort(keys.astype(np.uint64, copy=False))
        chunks = np.full(len(keys), chunk_id, dtype=np.int64)
        with self._lock:
            runs = [*self._runs, (keys, chunks)]
            while len(runs) > 1 and len(runs[-1][0]) * 2 >= len(runs[-2][0]):
                (k1, c1), (k2, c2) = runs[-2], runs[-1]
                k, c = np.concatenate([k1, k2]), np.concatenate([c1, c2])
                live = c >= self.floor
                k, c = k[live], c[live]
                order = np.argsort(k, kind="stable")
                runs[-2:] = [(k[order], c[order])]
            self._runs = runs

    def lookup(self, key: int) -> set[int]:
        probe = np.uint64(key)
        out: set[int] = set()
        for keys, chunks in self._runs:  # the list is replaced, never mutated: no lock needed
            lo = np.searchsorted(keys, probe, side="left")
            hi = np.searchsorted(keys, probe, side="right")
            out.update(int(c) for c in chunks[lo:hi] if c >= self.floor)
        return out

    def lookup_many(self, keys: np.ndarray) -> set[int]:
        """Chunk ids of any of `keys` (uint64), vectorised per run."""
        probes = np.asarray(keys, dtype=np.uint64)
        out: set[int] = set()
        for run_keys, chunks in self._runs:
            lo = np.searchsorted(run_keys, probes, side="left")
            counts = np.searchsorted(run_keys, probes, side="right") - lo
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            found = chunks[starts + np.arange(total)]
            out.update(np.unique(found[found >= self.floor]).tolist())
        return out

    def contains_many(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of `keys` (uint64) is in a live chunk (a bool array; a 64-bit key collision
        may say yes for an id the store does not hold)."""
        probes = np.asarray(keys, dtype=np.uint64)
        out = np.zeros(len(probes), dtype=bool)
        for run_keys, chunks in self._runs:
            if not len(run_keys):
                continue
            lo = np.searchsorted(run_keys, probes, side="left")
            hit = lo < len(run_keys)
            hit[hit] = run_keys[lo[hit]] == probes[hit]
            if self.floor:  # the first match may be evicted while a later one (same key) is live
                hi = np.searchsorted(run_keys, probes, side="right")
                for i in np.flatnonzero(hit):
                    hit[i] = bool((chunks[lo[i] : hi[i]] >= self.floor).any())
            out |= hit
        return out

    def evict_below(self, chunk_id: int) -> None:
        self.floor = max(self.floor, chunk_id)
