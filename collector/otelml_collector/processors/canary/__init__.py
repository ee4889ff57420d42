"""Processor `canary`: promote, rollback or inconclusive for a candidate model version against a
baseline served side by side (traffic split or shadow); `GET /v1/canary`. Rules: docs/triage.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.canary.config import CanaryConfig
from otelml_collector.processors.canary.factory import CanaryFactory
from otelml_collector.processors.canary.processor import CanaryProcessor

__all__ = ["CanaryConfig", "CanaryFactory", "CanaryProcessor"]

registry.register(CanaryFactory())
