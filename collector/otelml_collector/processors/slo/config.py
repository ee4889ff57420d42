"""Typed configuration of the `slo` processor (`processors.slo` in the sidecar YAML).

processors:
  slo:
    period: 30d                      # error-budget period (rolling)
    objectives:
      - {name: fraud-latency, model: fraud, indicator: latency, threshold: 250ms, target: 0.99}
      - {name: fraud-errors, model: fraud, indicator: errors, target: 0.999}
      - {name: features-fresh, model: fraud, indicator: freshness, threshold: 10m, target: 0.99,
         feature_view: transactions}
      - {name: fraud-f1, model: fraud, indicator: performance, metric: f1, threshold: 0.8, target: 0.95}
    alert_windows:                   # multi-window, multi-burn-rate (SRE workbook); these are the defaults
      - {long: 1h, short: 5m, burn_rate: 14.4}
      - {long: 6h, short: 30m, burn_rate: 6}
    min_events: 10                   # a window pair fires only with this many events in its short window
    evaluate_interval: 1s
    checkpoint_interval: 30s
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping, parse_duration

__all__ = ["AlertWindow", "Objective", "SloConfig", "config_from_dict"]

INDICATORS = ("latency", "errors", "freshness", "performance")
HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "roc_auc", "f1_macro", "r2")
LOWER_IS_BETTER = ("log_loss", "brier", "mae", "rmse", "mape")
_NAME = re.compile(r"^[A-Za-z0-9_.:/-]+$")


@dataclass
class Objective:
    name: str = ""
    model: str = ""
    indicator: str = ""
    target: float = 0.0  # share of good events, 0 < target < 1
    threshold: Any = None  # latency/freshness: a duration; performance: the metric's floor (or ceiling)
    version: str | None = None  # only this model version (default: every version)
    metric: str | None = None  # performance: which metric of the performance processor
    kind: str = "realized"  # performance: realized | estimated
    feature_view: str | None = None  # freshness: only lookups of this view (default: every view)

    @property
    def limit(self) -> float:
        """The threshold as a number (seconds for latency/freshness)."""
        return float(self.threshold) if self.threshold is not None else 0.0


@dataclass
class AlertWindow:
    long: Duration = 3600.0
    short: Duration = 300.0
    burn_rate: float = 14.4


def _default_windows() -> list[AlertWindow]:
    return [AlertWindow(3600.0, 300.0, 14.4), AlertWindow(6 * 3600.0, 1800.0, 6.0)]


@dataclass
class SloConfig(ComponentConfig):
    objectives: list[Objective] = field(default_factory=list)
    alert_windows: list[AlertWindow] = field(default_factory=_default_windows)
    period: Duration = 30 * 86400.0
    min_events: int = 10
    evaluate_interval: Duration = 1.0
    checkpoint_interval: Duration = 30.0

    def validate(self) -> None:
        if self.period <= 0:
            raise ValueError(f"period: must be positive, got {self.period}")
        if self.min_events < 1:
            raise ValueError(f"min_events: must be at least 1, got {self.min_events}")
        if not self.alert_windows:
            raise ValueError("alert_windows: list at least one {long, short, burn_rate}")
        for i, w in enumerate(self.alert_windows):
            key = f"alert_windows[{i}]"
            if not 0 < w.short < w.long:
                raise ValueError(f"{key}: need 0 < short < long, got short={w.short:g}s long={w.long:g}s")
            if w.long > self.period:
                raise ValueError(f"{key}.long: {w.long:g}s is longer than period ({self.period:g}s)")
            if w.burn_rate <= 0:
                raise ValueError(f"{key}.burn_rate: must be positive, got {w.burn_rate}")
        seen: set[str] = set()
        for i, o in enumerate(self.objectives):
            _check_objective(o, f"objectives[{i}]")
            if o.name in seen:
                raise ValueError(f"objectives[{i}].name: {o.name!r} is used twice; names must be unique")
            seen.add(o.name)


def _check_objective(o: Objective, key: str) -> None:
    if not o.name or not _NAME.match(o.name):
        raise ValueError(
            f"{key}.name: a non-empty name of letters, digits and _.:/- is required, got {o.name!r}"
        )
    if not o.model:
        raise ValueError(f"{key}.model: the model name (ml.model.name) is required")
    if o.indicator not in INDICATORS:
        raise ValueError(f"{key}.indicator: must be one of {', '.join(INDICATORS)}, got {o.indicator!r}")
    if not 0.0 < o.target < 1.0:
        raise ValueError(f"{key}.target: must be between 0 and 1 (e.g. 0.99), got {o.target}")
    if o.indicator in ("latency", "freshness"):
        if o.threshold is None:
            raise ValueError(f"{key}.threshold: {o.indicator} needs a duration (e.g. 250ms)")
        o.threshold = parse_duration(o.threshold, f"{key}.threshold")
    elif o.indicator == "performance":
        if o.metric not in HIGHER_IS_BETTER + LOWER_IS_BETTER:
            names = ", ".join(HIGHER_IS_BETTER + LOWER_IS_BETTER)
            raise ValueError(f"{key}.metric: performance needs one of {names}, got {o.metric!r}")
        if isinstance(o.threshold, bool) or not isinstance(o.threshold, int | float):
            raise ValueError(
                f"{key}.threshold: performance needs the metric's floor as a number, got {o.threshold!r}"
            )
        if o.kind not in ("realized", "estimated"):
            raise ValueError(f"{key}.kind: must be realized or estimated, got {o.kind!r}")
    elif o.threshold is not None:
        raise ValueError(f"{key}.threshold: errors takes no threshold (an event is bad when its span failed)")


def config_from_dict(raw: dict[str, Any]) -> SloConfig:
    cfg = from_mapping(SloConfig, raw)
    cfg.validate()
    return cfg
