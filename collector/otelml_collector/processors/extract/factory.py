"""Factory of the `ml_extract` processor."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.extract.config import TYPE, MLExtractConfig
from otelml_collector.processors.extract.processor import MLExtractProcessor

__all__ = ["MLExtractFactory"]


class MLExtractFactory:
    type: ClassVar[str] = TYPE
    kind: ClassVar[str] = "processor"

    def default_config(self) -> MLExtractConfig:
        return MLExtractConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> MLExtractConfig:
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ValueError(f"must be a mapping of settings, got {type(raw).__name__}")
        known = {f.name for f in fields(MLExtractConfig)}
        for key in raw:
            if key not in known:
                raise ValueError(f"unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        config = MLExtractConfig(**raw)
        config.validate()
        return config

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> MLExtractProcessor:
        if not isinstance(config, MLExtractConfig):
            raise TypeError(f"{TYPE}: expected MLExtractConfig, got {type(config).__name__}")
        config.validate()
        return MLExtractProcessor(config, ctx)
