"""Processor `performance`: realized metrics from delayed labels and confidence-based estimates,
per model version and segment, with exemplars of wrong predictions and alerts; `GET /v1/performance`.
Configuration and metrics: docs/performance.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.performance.config import PerformanceConfig
from otelml_collector.processors.performance.factory import PerformanceFactory
from otelml_collector.processors.performance.processor import PerformanceProcessor

__all__ = ["PerformanceConfig", "PerformanceFactory", "PerformanceProcessor"]

registry.register(PerformanceFactory())
