"""Factory of the `diagnose` processor."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.diagnose.config import DiagnoseConfig, config_from_dict
from otelml_collector.processors.diagnose.processor import DiagnoseProcessor

__all__ = ["DiagnoseFactory"]


class DiagnoseFactory:
    type: ClassVar[str] = "diagnose"
    kind: ClassVar[str] = "processor"
    # reads the prediction store when asked, so `predictions` may run anywhere in the pipeline
    needs: ClassVar[tuple[str, ...]] = ("ml_extract",)

    def default_config(self) -> DiagnoseConfig:
        return DiagnoseConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> DiagnoseConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        return cfg

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> DiagnoseProcessor:
        assert isinstance(config, DiagnoseConfig)
        config.validate()
        return DiagnoseProcessor(config, ctx)
