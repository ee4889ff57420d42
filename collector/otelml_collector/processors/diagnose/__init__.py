"""Processor `diagnose`: one verdict — data, model, system or none — per model, from the drift,
quality and performance processors' findings and the stored prediction traces' span signals;
`GET /v1/diagnose`. Configuration and rules: docs/triage.md.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.diagnose.config import DiagnoseConfig
from otelml_collector.processors.diagnose.factory import DiagnoseFactory
from otelml_collector.processors.diagnose.processor import DiagnoseProcessor

__all__ = ["DiagnoseConfig", "DiagnoseFactory", "DiagnoseProcessor"]

registry.register(DiagnoseFactory())
