"""Configuration of the `ml_extract` processor (`processors.ml_extract`); keys in the package docstring."""

from __future__ import annotations

from dataclasses import dataclass, fields

from otelml_collector.component import ComponentConfig
from otelml_collector.processors.extract.assemble import Caps

__all__ = ["TYPE", "MLExtractConfig"]

TYPE = "ml_extract"


@dataclass
class MLExtractConfig(ComponentConfig):
    max_models: int = 100
    max_features_per_model: int = 500
    max_categories_per_feature: int = 1000
    max_string_bytes: int = 256  # longer strings (UTF-8) are cut to this many bytes, counted as capped

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{f.name} must be a positive integer, got {value!r}")

    def caps(self) -> Caps:
        return Caps(
            self.max_models,
            self.max_features_per_model,
            self.max_categories_per_feature,
            self.max_string_bytes,
        )
