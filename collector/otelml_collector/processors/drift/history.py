"""The last closed windows of each model version, for people to look at (`GET /v1/drift/history`).

Each entry is one scored window: its scores (as `/v1/drift` shows the last one) and the window's
counts per bin of every column, so a page can draw the score over windows and the reference-vs-current
histogram. The reference side is the baseline profile, as in a baseline file (`Profile.to_dict`). Entries are
kept per model version in a bounded deque (`HISTORY_WINDOWS`) and checkpointed with the results, so
a restart keeps them. The HTTP handler copies what it needs under the processor's lock and builds the
answer outside it: reading never holds up the receive path longer than a copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from otelml_collector.processors.drift.outputs import DriftResult, _iso
from otelml_collector.processors.drift.window import ModelBaseline, OpenWindow

__all__ = [
    "HISTORY_WINDOWS",
    "NS_HISTORY",
    "WindowHistory",
    "history_document",
    "window_entry",
]

HISTORY_WINDOWS = 48  # closed windows kept per model version
NS_HISTORY = "drift.history"


def window_entry(w: OpenWindow, results: list[DriftResult]) -> dict[str, Any]:
    """One closed window as stored: its scores and its counts per bin per column."""
    return {
        "start_unix_nano": w.first_ns,
        "end_unix_nano": w.last_ns,
        "count": w.count,
        "scores": [r.to_json() | {"alert": r.alert} for r in results],
        "counts": {name: win.counts.tolist() for name, win in w.windows.items()},
    }


class WindowHistory:
    """Bounded history of closed windows per model version (not thread-safe: the processor locks)."""

    def __init__(self, limit: int = HISTORY_WINDOWS) -> None:
        self.limit = limit
        self.entries: dict[tuple[str, ...], deque[dict[str, Any]]] = {}

    def add(self, key: tuple[str, ...], entry: dict[str, Any]) -> list[dict[str, Any]]:
        """Append an entry; returns the model version's entries (to checkpoint)."""
        entries = self.entries.setdefault(key, deque(maxlen=self.limit))
        entries.append(entry)
        return list(entries)

    def restore(self, key: tuple[str, ...], entries: list[dict[str, Any]]) -> None:
        self.entries[key] = deque(entries[-self.limit :], maxlen=self.limit)

    def snapshot(self, model: str | None) -> dict[tuple[str, ...], list[dict[str, Any]]]:
        return {k: list(v) for k, v in self.entries.items() if model is None or k[0] == model}


def history_document(
    snapshot: Mapping[tuple[str, ...], list[dict[str, Any]]],
    baselines: Mapping[tuple[str, ...], ModelBaseline],
    last: int | None = None,
    last_counts_only: bool = False,
) -> dict[str, Any]:
    """The `/v1/drift/history` answer: per model version the reference profiles and the windows,
    oldest first (the last `last` windows only, when given; bin counts of the newest one only with
    `last_counts_only`, what a page needs to draw the current histogram)."""
    models = []
    for key in sorted(set(snapshot) | set(baselines)):
        entries = snapshot.get(key, [])
        if last is not None:
            entries = entries[-last:] if last else []
        baseline = baselines.get(key)
        profiles = baseline.profiles if baseline is not None else {}
        models.append(
            {
                "model": key[0],
                "version": key[1],
                "segment": dict(zip(key[2::2], key[3::2], strict=True)),  # {} unless drift.segments
                "baseline": baseline.source if baseline is not None else None,
                "reference": {name: p.to_dict() for name, p in profiles.items()},
                "windows": [
                    _public(e, counts=not last_counts_only or i == len(entries) - 1)
                    for i, e in enumerate(entries)
                ],
            }
        )
    return {"models": models}


def _public(entry: Mapping[str, Any], counts: bool = True) -> dict[str, Any]:
    if not counts:
        entry = {k: v for k, v in entry.items() if k != "counts"}
    return {
        "start": _iso(entry["start_unix_nano"]) if entry["start_unix_nano"] else None,
        "end": _iso(entry["end_unix_nano"]) if entry["end_unix_nano"] else None,
        **entry,
    }
