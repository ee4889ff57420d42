"""Factory of the `canary` processor."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.canary.config import CanaryConfig, config_from_dict
from otelml_collector.processors.canary.processor import CanaryProcessor

__all__ = ["CanaryFactory"]


class CanaryFactory:
    type: ClassVar[str] = "canary"
    kind: ClassVar[str] = "processor"
    # reads the prediction store when asked, so `predictions` may run anywhere in the pipeline
    needs: ClassVar[tuple[str, ...]] = ()

    def default_config(self) -> CanaryConfig:
        return CanaryConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> CanaryConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        return cfg

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> CanaryProcessor:
        assert isinstance(config, CanaryConfig)
        config.validate()
        return CanaryProcessor(config, ctx)
