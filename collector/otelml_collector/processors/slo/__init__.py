"""Processor `slo`: objectives on latency, errors, feature freshness and model performance per model,
error budgets, multi-window multi-burn-rate alerts; `GET /v1/slo`. Configuration: docs/slo.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.slo.config import SloConfig
from otelml_collector.processors.slo.factory import SloFactory
from otelml_collector.processors.slo.processor import SloProcessor

__all__ = ["SloConfig", "SloFactory", "SloProcessor"]

registry.register(SloFactory())
