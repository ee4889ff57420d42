"""Factory of the `performance` processor."""

from __future__ import annotations

from typing import Any, ClassVar

from opentelemetry.sdk.metrics.view import View

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.performance.config import PerformanceConfig, config_from_dict
from otelml_collector.processors.performance.outputs import performance_views
from otelml_collector.processors.performance.processor import PerformanceProcessor, load_reference_file

__all__ = ["PerformanceFactory"]


class PerformanceFactory:
    type: ClassVar[str] = "performance"
    kind: ClassVar[str] = "processor"

    def default_config(self) -> PerformanceConfig:
        return PerformanceConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> PerformanceConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        if cfg.baseline.path:
            load_reference_file(cfg.baseline.path)  # a missing or broken file is a config error
        return cfg

    def metric_views(self, config: ComponentConfig | None = None) -> list[View]:
        return performance_views(16)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> PerformanceProcessor:
        assert isinstance(config, PerformanceConfig)
        config.validate()
        return PerformanceProcessor(config, ctx)
