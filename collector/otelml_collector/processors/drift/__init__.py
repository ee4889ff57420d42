"""Processor `drift`: streaming feature and prediction drift per model version, from inference spans.

Outputs gauges `ml.feature.drift` / `ml.prediction.drift` with exemplars of the predictions behind a
drift, WARN log records (alerts) carrying such a prediction's trace id, `ml.drift.features` on
forwarded spans, and `GET /v1/drift` on the sidecar's HTTP API. Configuration: docs/drift.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.drift.config import DriftConfig
from otelml_collector.processors.drift.factory import DriftFactory
from otelml_collector.processors.drift.outputs import DriftResult, drift_views
from otelml_collector.processors.drift.processor import DriftProcessor

__all__ = ["DriftConfig", "DriftFactory", "DriftProcessor", "DriftResult", "drift_views"]

registry.register(DriftFactory())
