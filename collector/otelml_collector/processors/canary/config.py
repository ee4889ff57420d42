"""Typed configuration of the `canary` processor (`processors.canary` in the sidecar YAML).

processors:
  canary:
    min_samples: 500            # calls per version before a verdict other than inconclusive
    min_labels: 100             # labelled predictions per version before performance is compared
    since: 1h                   # look-back of a comparison
    max_calls: 20000            # newest calls per version read from the prediction store
    metric: auto                # performance metric compared; auto = accuracy (classes), rmse (numbers)
    max_prediction_shift: 0.2   # KS distance (numeric) / total variation (classes) of the predictions
    min_agreement: 0.9          # shadow: share of predictions where the shadow agrees with the primary
    max_performance_drop: 0.02  # absolute, in the metric's direction
    max_latency_ratio: 1.5      # candidate p95 / baseline p95
    max_error_increase: 0.01    # candidate error rate - baseline error rate ...
    p_value: 0.01               # ... and a one-sided test (Fisher exact; KS / chi-square for shifts)
    evaluate: []                # [{model, baseline, candidate}] compared every evaluate_interval
    evaluate_interval: 30s      # (pairs asked for through the API are added), rollback alerts on crossing
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otelml.stats.performance import BINARY, MULTICLASS, REGRESSION
from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping

__all__ = ["CanaryConfig", "PairConfig", "config_from_dict"]


@dataclass
class PairConfig:
    model: str = ""
    baseline: str = ""
    candidate: str = ""


@dataclass
class CanaryConfig(ComponentConfig):
    min_samples: int = 500
    min_labels: int = 100
    since: Duration = 3600.0
    max_calls: int = 20_000
    metric: str = "auto"
    max_prediction_shift: float = 0.2
    min_agreement: float = 0.9
    max_performance_drop: float = 0.02
    max_latency_ratio: float = 1.5
    max_error_increase: float = 0.01
    p_value: float = 0.01
    evaluate: list[PairConfig] = field(default_factory=list)
    evaluate_interval: Duration = 30.0

    def validate(self) -> None:
        for key in ("min_samples", "min_labels", "max_calls"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be a positive integer, got {getattr(self, key)}")
        metrics = ("auto", *BINARY, *MULTICLASS, *REGRESSION)
        if self.metric not in metrics:
            valid = ", ".join(dict.fromkeys(metrics))
            raise ValueError(f"metric: must be one of {valid}, got {self.metric!r}")
        for key in ("max_prediction_shift", "min_agreement", "max_error_increase", "p_value"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"{key} must be between 0 and 1, got {getattr(self, key)}")
        if self.max_performance_drop < 0:
            raise ValueError(f"max_performance_drop must not be negative, got {self.max_performance_drop}")
        if self.max_latency_ratio <= 1:
            raise ValueError(f"max_latency_ratio must be above 1, got {self.max_latency_ratio}")
        for i, pair in enumerate(self.evaluate):
            for key in ("model", "baseline", "candidate"):
                if not getattr(pair, key):
                    raise ValueError(f"evaluate[{i}].{key}: required")
        if self.evaluate_interval <= 0:
            raise ValueError(f"evaluate_interval: must be a positive duration, got {self.evaluate_interval}")


def config_from_dict(raw: object) -> CanaryConfig:
    return from_mapping(CanaryConfig, raw)
