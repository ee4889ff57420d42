"""Processor `predictions`: keeps every span of every trace holding an `ml.prediction.id` in the
prediction store and serves `/v1/predictions/{id}`, `/v1/traces/{trace_id}` and `/v1/predictions`.
Configuration and API: docs/predictions.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.predictions.config import PredictionsConfig
from otelml_collector.processors.predictions.factory import PredictionsFactory
from otelml_collector.processors.predictions.processor import PredictionsProcessor

__all__ = ["PredictionsConfig", "PredictionsFactory", "PredictionsProcessor"]

registry.register(PredictionsFactory())
