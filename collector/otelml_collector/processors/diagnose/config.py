"""Typed configuration of the `diagnose` processor (`processors.diagnose` in the sidecar YAML).

processors:
  diagnose:
    warmup: 0             # calls per model version its reference is learned from; 0 = drift's
                          # baseline.warmup when a drift processor runs, else 1000
    baseline:
      path: ""            # JSON file whose "diagnose" section gives the reference instead of warm-up
    since: 15m            # default look-back of GET /v1/diagnose
    min_samples: 30       # calls in the look-back before a span signal can degrade
    max_calls: 20000      # newest calls of the look-back read from the prediction store
    p_value: 0.001        # one-sided binomial test of a rate increase against the reference
    latency_factor: 2.0   # p95 latency above this multiple of the reference p95 ...
    latency_min_increase: 5ms  # ... and above it by at least this (a 0.3 -> 0.9 ms model is not slow)
    max_increase: 0.05    # ... and rates (errors, slow calls, stale lookups, missing features) above
                          # the reference rate by more than this
    freshness_sla: 1h     # a feature_lookup span's ml.feature_view.freshness beyond this is stale
    view_sla: {}          # per feature view: {view: seconds}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping, parse_duration

__all__ = ["BaselineConfig", "DiagnoseConfig", "config_from_dict", "load_reference_file"]


@dataclass
class BaselineConfig:
    path: str = ""


@dataclass
class DiagnoseConfig(ComponentConfig):
    warmup: int = 0
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    since: Duration = 900.0
    min_samples: int = 30
    max_calls: int = 20_000
    p_value: float = 0.001
    latency_factor: float = 2.0
    latency_min_increase: Duration = 0.005
    max_increase: float = 0.05
    freshness_sla: Duration = 3600.0
    view_sla: dict[str, str] = field(default_factory=dict)
    learn_interval: Duration = 5.0  # how often references of versions past their warm-up are learned

    def validate(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be 0 (drift's) or a positive integer, got {self.warmup}")
        for key in ("min_samples", "max_calls"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be a positive integer, got {getattr(self, key)}")
        if not 0 < self.p_value < 1:
            raise ValueError(f"p_value must be between 0 and 1, got {self.p_value}")
        if self.latency_factor <= 1:
            raise ValueError(f"latency_factor must be above 1, got {self.latency_factor}")
        if self.latency_min_increase < 0:
            raise ValueError(f"latency_min_increase must not be negative, got {self.latency_min_increase}")
        if not 0 < self.max_increase < 1:
            raise ValueError(f"max_increase must be between 0 and 1, got {self.max_increase}")
        for view, value in self.view_sla.items():
            parse_duration(value, f"view_sla.{view}")
        if self.baseline.path:
            load_reference_file(self.baseline.path)

    def sla(self, view: str) -> float:
        raw = self.view_sla.get(view)
        return self.freshness_sla if raw is None else parse_duration(raw, f"view_sla.{view}")


REFERENCE_KEYS = ("latency_p95_s", "error_rate", "server_error_rate", "stale_rate", "missing_rate")


def load_reference_file(path: str) -> dict[str, Any]:
    """The `diagnose` section of a baseline file: {latency_p95_s, error_rate, server_error_rate,
    stale_rate, missing_rate, features: [...]} (missing keys are learned from warm-up)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"baseline.path: {path}: cannot read: {exc}") from None
    section = data.get("diagnose") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"baseline.path: {path}: no `diagnose` section (keys: {', '.join(REFERENCE_KEYS)})")
    for key in REFERENCE_KEYS:
        value = section.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ValueError(
                f"baseline.path: {path}: diagnose.{key} must be a non-negative number, got {value!r}"
            )
    return section


def config_from_dict(raw: object) -> DiagnoseConfig:
    return from_mapping(DiagnoseConfig, raw)
