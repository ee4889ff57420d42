"""Columnar ML records extracted from inference spans: what the sidecar's ML processors consume.

One `ModelBatch` per (model, version) per received request, appended to `TelemetryRequest.records`
by the `ml_extract` processor (rules in `otelml_collector.processors.extract.assemble`). Rows are
observations: a scalar `ml.feature.x` on a span is one row; an array-valued one (a batch call) is
several rows that share the span's trace/span id. Every column of a batch has the same length
(`len(batch)`); missing values are NaN (numeric) or None (categorical). A feature is numeric or
categorical for good once its first valid value was seen; values of the other type, non-finite
numbers and unusable values are missing and counted in `invalid`. Columns are only present for
features that occur in the request. Arrays may be views into shared buffers: copy before mutating.
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
    time_unix_nano: np.ndarray  # int64, shape (n,): the span's end time
    prediction_id: list[str | None]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # feature -> float64 (n,), NaN = missing
    categorical: dict[str, np.ndarray] = field(default_factory=dict)  # feature -> object (n,), None = missing
    prediction_value: np.ndarray | None = None  # float64 or object (n,), like a feature
    prediction_score: np.ndarray | None = None  # float64 (n,)
    segments: dict[str, np.ndarray] = field(default_factory=dict)  # key -> object (n,) of str / None
    invalid: dict[str, int] = field(default_factory=dict)
    """Wrong-typed / non-finite values in this request, by feature name; the prediction and segments
    under "ml.prediction.value", "ml.prediction.score", "ml.segment.<key>"."""
    span_offset: np.ndarray | None = None
    """int64 (n,): offset in the request's received bytes (`TelemetryRequest.raw`, before any change)
    of the span's field tag (0x12) inside its ScopeSpans, so a processor can splice attributes into
    that span without walking the request; None when unknown (e.g. a request built in memory)."""

    @property
    def key(self) -> ModelKey:
        return (self.model, self.version)

    def __len__(self) -> int:
        return int(self.time_unix_nano.shape[0])
