"""Factory of the `predictions` processor."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.predictions.config import PredictionsConfig, config_from_dict
from otelml_collector.processors.predictions.processor import PredictionsProcessor

__all__ = ["PredictionsFactory"]


class PredictionsFactory:
    type: ClassVar[str] = "predictions"
    kind: ClassVar[str] = "processor"

    def default_config(self) -> PredictionsConfig:
        return PredictionsConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> PredictionsConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        return cfg

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> PredictionsProcessor:
        assert isinstance(config, PredictionsConfig)
        config.validate()
        return PredictionsProcessor(config, ctx)
