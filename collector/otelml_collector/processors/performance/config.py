"""Typed configuration of the `performance` processor (`processors.performance` in the sidecar YAML).

processors:
  performance:
    window: {size: 1000, seconds: 0}   # predictions per window, or seconds per window (0 = by count)
    baseline: {path: null, warmup: 1000}  # reference: a file from `otelml baseline build --score`,
                                       # or the first N labelled predictions of a model version
    thresholds: {f1: 0.05, roc_auc: 0.05}  # absolute drop below the reference that alerts
    min_coverage: 0.5                  # realized metrics alert once this share of a window is labelled
    segments: [region]                 # per-segment windows for each value of ml.segment.<key>
    max_segment_values: 20             # per key; further values are "__other__"
    max_label_delay: 30d               # labels without their prediction wait this long
    positive_label: null               # the positive class (default 1 / true)
    task: auto                         # auto | binary | multiclass | regression
    max_windows: 48                    # closed windows kept per model/version/segment
    max_pending_labels: 100000
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping
from otelml_collector.processors.performance.metrics import BINARY, MULTICLASS, REGRESSION

__all__ = ["PerformanceConfig", "config_from_dict"]

TASKS = ("auto", "binary", "multiclass", "regression")
METRICS = frozenset(BINARY + MULTICLASS + REGRESSION)


@dataclass
class WindowConfig:
    size: int = 1000
    seconds: Duration = 0.0


@dataclass
class BaselineConfig:
    path: str | None = None
    warmup: int = 1000


@dataclass
class PerformanceConfig(ComponentConfig):
    window: WindowConfig = field(default_factory=WindowConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    thresholds: dict[str, float] = field(default_factory=dict)
    min_coverage: float = 0.5
    segments: list[str] = field(default_factory=list)
    max_segment_values: int = 20
    max_label_delay: Duration = 30 * 86400.0
    positive_label: str | None = None
    task: str = "auto"
    max_windows: int = 48
    max_pending_labels: int = 100_000
    exemplars: int = 5
    checkpoint_interval: Duration = 30.0
    evaluate_interval: Duration = 1.0  # windows whose labels changed are re-scored at most this often

    def validate(self) -> None:
        for key, value in (
            ("window.size", self.window.size),
            ("max_segment_values", self.max_segment_values),
            ("max_windows", self.max_windows),
            ("max_pending_labels", self.max_pending_labels),
        ):
            if value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value}")
        if self.baseline.warmup < 0:
            raise ValueError(f"baseline.warmup must be >= 0, got {self.baseline.warmup}")
        if self.task not in TASKS:
            raise ValueError(f"task: must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not 0 <= self.min_coverage <= 1:
            raise ValueError(f"min_coverage must be between 0 and 1, got {self.min_coverage}")
        for metric, value in self.thresholds.items():
            if metric not in METRICS:
                raise ValueError(f"thresholds.{metric}: unknown metric (known: {', '.join(sorted(METRICS))})")
            if value < 0:
                raise ValueError(f"thresholds.{metric} must be >= 0, got {value}")
        if not 0 <= self.exemplars <= 16:
            raise ValueError(f"exemplars must be between 0 and 16, got {self.exemplars}")


def config_from_dict(raw: object) -> PerformanceConfig:
    return from_mapping(PerformanceConfig, raw)
