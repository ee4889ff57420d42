"""The inference spans of a stored chunk as columns (what `pred_chunks` keeps besides the span bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EMPTY", "Predictions"]


_INT64_MAX = 2**63 - 1


@dataclass
class Predictions:
    """The inference spans of a chunk, as columns."""

    pids: list[str]
    trace_ids: bytes  # 16 bytes each
    span_ids: bytes  # 8 bytes each
    times: np.ndarray  # int64 end time (ns)
    model_index: np.ndarray  # uint16 into `models`
    models: list[tuple[str, str]]
    values: list[Any]
    scores: np.ndarray  # float64, NaN = none

    def __len__(self) -> int:
        return len(self.pids)

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]]) -> Predictions:
        """From (prediction id, trace id, span id, model, version, end time ns, value, score) tuples."""
        models: dict[tuple[str, str], int] = {}
        index = [models.setdefault((r[3] or "", r[4] or ""), len(models)) for r in rows]
        return cls(
            [r[0] for r in rows],
            b"".join(r[1] for r in rows),
            b"".join(r[2] for r in rows),
            np.array([min(r[5], _INT64_MAX) for r in rows], dtype=np.int64),  # OTLP times are uint64
            np.array(index, dtype=np.uint16),
            list(models),
            [r[6] for r in rows],
            np.array([_score(r[7]) for r in rows], dtype=np.float64),
        )

    @classmethod
    def concat(cls, parts: list[Predictions]) -> Predictions:
        parts = [p for p in parts if len(p)]
        if len(parts) == 1:
            return parts[0]
        models: dict[tuple[str, str], int] = {}
        remapped = []
        for p in parts:
            lut = np.array([models.setdefault(m, len(models)) for m in p.models], dtype=np.uint16)
            remapped.append(lut[p.model_index] if len(lut) else p.model_index)
        return cls(
            [pid for p in parts for pid in p.pids],
            b"".join(p.trace_ids for p in parts),
            b"".join(p.span_ids for p in parts),
            np.concatenate([p.times for p in parts]) if parts else np.zeros(0, np.int64),
            np.concatenate(remapped) if parts else np.zeros(0, np.uint16),
            list(models),
            [v for p in parts for v in p.values],
            np.concatenate([p.scores for p in parts]) if parts else np.zeros(0),
        )


def _score(value: Any) -> float:
    """A score as a float; NaN for none or a value that is not a number (a string from a buggy client)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


EMPTY = Predictions([], b"", b"", np.zeros(0, np.int64), np.zeros(0, np.uint16), [], [], np.zeros(0))
