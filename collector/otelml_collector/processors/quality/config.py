"""Typed configuration of the `quality` processor (`processors.quality` in the sidecar YAML).

    processors:
      quality:
        expectations: expectations.yaml   # otelml YAML or GE suite JSON, for every model without its own
        baseline: baseline.json           # optional, for `drift` expectations
        models:                           # optional per-model files (model name as on spans)
          credit: {expectations: credit.yaml, baseline: credit-baseline.json}
        window: {size: 5000, seconds: 60} # window checks (row_count, freshness, unique, aggregates, drift)
        exemplars: 3                      # violating predictions recorded as exemplars per check and batch
        alert_interval: 60s               # at most one WARN log per model/feature/check per interval
        max_models: 100
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping

__all__ = ["ModelFiles", "QualityConfig", "WindowConfig", "config_from_dict"]


@dataclass
class ModelFiles:
    expectations: str | None = None
    baseline: str | None = None


@dataclass
class WindowConfig:
    size: int = 5000  # rows kept for window checks; a window closes when it holds this many...
    seconds: Duration = 60.0  # ...or this long after it opened (also without traffic); 0 = size only


@dataclass
class QualityConfig(ComponentConfig):
    expectations: str | None = None
    baseline: str | None = None
    models: dict[str, ModelFiles] = field(default_factory=dict)
    window: WindowConfig = field(default_factory=WindowConfig)
    exemplars: int = 3
    alert_interval: Duration = 60.0
    max_models: int = 100
    checkpoint_seconds: Duration = 10.0  # how often open windows are written to the state store

    def validate(self) -> None:
        """Without any expectations file the processor checks nothing (it logs that at start)."""
        for name, files in self.models.items():
            if not files.expectations and not self.expectations:
                raise ValueError(f"models.{name}.expectations: missing, and no default `expectations` is set")
        for key, value in (("window.size", self.window.size), ("max_models", self.max_models)):
            if value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value}")
        if self.window.seconds < 0:
            raise ValueError(f"window.seconds must be >= 0, got {self.window.seconds}")
        if not self.checkpoint_seconds > 0:
            raise ValueError(f"checkpoint_seconds must be > 0, got {self.checkpoint_seconds}")
        if not 0 <= self.exemplars <= 16:
            raise ValueError(f"exemplars must be between 0 and 16, got {self.exemplars}")

    def files_for(self, model: str) -> tuple[str, str | None]:
        """(expectations file, baseline file or None) that apply to `model`."""
        own = self.models.get(model)
        if own is not None:
            return own.expectations or self.expectations or "", own.baseline or (
                None if own.expectations else self.baseline)
        return self.expectations or "", self.baseline


def config_from_dict(raw: Any) -> QualityConfig:
    return from_mapping(QualityConfig, raw)
