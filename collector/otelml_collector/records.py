"""Columnar ML records extracted from inference spans: what the sidecar's ML processors consume.

One `ModelBatch` per (model, version) per received request. Rows are observations: a scalar
`ml.feature.x` on a span is one row; an array-valued one (a batch call) is several rows that share
the span's trace/span id. Every column of a batch has the same length (`len(batch)`), missing
values are NaN (numeric) or None (categorical).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelBatch", "ModelKey"]

ModelKey = tuple[str, str]
"""(model name, model version); version is "" when the span carries none."""


@dataclass
class ModelBatch:
    model: str
    version: str
    trace_id: np.ndarray  # uint8, shape (n, 16)
    span_id: np.ndarray  # uint8, shape (n, 8)
    time_unix_nano: np.ndarray  # int64, shape (n,)
    prediction_id: list[str | None]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # feature -> float64 (n,), NaN = missing
    categorical: dict[str, np.ndarray] = field(default_factory=dict)  # feature -> object (n,), None = missing
    prediction_value: np.ndarray | None = None  # float64 or object (n,)
    prediction_score: np.ndarray | None = None  # float64 (n,)
    segments: dict[str, np.ndarray] = field(default_factory=dict)  # key -> object (n,)
    invalid: dict[str, int] = field(default_factory=dict)  # feature -> wrong-typed / non-finite values seen

    @property
    def key(self) -> ModelKey:
        return (self.model, self.version)

    def __len__(self) -> int:
        return int(self.time_unix_nano.shape[0])
