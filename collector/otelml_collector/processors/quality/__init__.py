"""Processor `quality`: the data-quality gate's expectations, run online on inference spans.

Outputs the counter `ml.data_quality.violations` {ml.model.name, ml.model.version, ml.feature.name,
ml.data_quality.expectation} whose exemplars are violating predictions' trace ids, and a WARN log record
per violation burst carrying such a trace id. Configuration: docs/quality.md ("Online").
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.quality.config import QualityConfig
from otelml_collector.processors.quality.factory import QualityFactory, load_suites
from otelml_collector.processors.quality.processor import ModelSuite, QualityProcessor, frame_of

__all__ = ["ModelSuite", "QualityConfig", "QualityFactory", "QualityProcessor", "frame_of", "load_suites"]

registry.register(QualityFactory())
