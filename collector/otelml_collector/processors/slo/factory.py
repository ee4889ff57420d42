"""Factory of the `slo` processor."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.slo.config import SloConfig, config_from_dict
from otelml_collector.processors.slo.processor import SloProcessor

__all__ = ["SloFactory"]


class SloFactory:
    type: ClassVar[str] = "slo"
    kind: ClassVar[str] = "processor"
    # span objectives read model, version and prediction id of inference spans from ml_extract's records
    # (no attribute walk); without records they walk the decoded attributes
    needs: ClassVar[tuple[str, ...]] = ("ml_extract",)

    def default_config(self) -> SloConfig:
        return SloConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> SloConfig:
        return config_from_dict(raw)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> SloProcessor:
        assert isinstance(config, SloConfig)
        config.validate()
        return SloProcessor(config, ctx)
