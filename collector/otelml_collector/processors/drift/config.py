"""Typed configuration of the `drift` processor (`processors.drift` in the sidecar YAML).

Every key, its default and its meaning are documented in docs/drift.md. `validate()` raises
`ValueError` naming the key relative to the processor (the loader prefixes `processors.<name>.`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otelml_collector.component import ComponentConfig

__all__ = ["BaselineConfig", "DriftConfig", "EnrichConfig", "ExemplarConfig", "WindowConfig"]

MAX_EXEMPLARS_PER_POINT = 16  # the metric view's exemplar reservoir size
ALL_METHODS = ("psi", "ks", "js", "wasserstein", "chi2", "linf")
NUMERIC_METHODS = ("wasserstein", "ks", "psi", "js", "linf")  # chi2 is for categories
CATEGORICAL_METHODS = ("js", "linf", "chi2", "psi")  # wasserstein needs ordered values


@dataclass
class BaselineConfig:
    path: list[str] = field(default_factory=list)  # baseline files (`otelml baseline build`), one per model
    warmup: int = 1000  # learn a baseline from the first N predictions of a model version without a file


@dataclass
class WindowConfig:
    size: int = 5000  # close a window after this many observations...
    seconds: float = 300.0  # ...or this long after it opened, whichever comes first (0 = count only)
    min_samples: int = 0  # below this a closed window emits no score (0 = the stats core's minimum)


@dataclass
class ExemplarConfig:
    per_bin: int = 4  # reservoir slots per bin (trace id, span id, value) per feature
    per_point: int = 6  # exemplars attached to each gauge point of a drifted feature
    top_bins: int = 3  # exemplars come from the bins contributing most to the score


@dataclass
class EnrichConfig:
    enabled: bool = True  # add ml.drift.features to forwarded inference spans
    # a bin the baseline saw less often than this counts as "never seen"; below the 0.1% tail bins of
    # the stats core, so only values beyond the baseline's extremes (and unseen categories) count
    rare_fraction: float = 0.0005
    markers: bool = False  # also add ml.drift.<feature> = true per flagged feature


@dataclass
class DriftConfig(ComponentConfig):
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    # None = the stats core's defaults per kind; otherwise the methods to compute (each applies to the
    # feature kinds it supports: numeric psi/ks/js/wasserstein, categorical chi2/js/linf)
    methods: list[str] | None = None
    # None = the stats core's alerting methods among `methods` (wasserstein, js), else all of `methods`
    alert_methods: list[str] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # method -> threshold override
    exemplars: ExemplarConfig = field(default_factory=ExemplarConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    checkpoint_seconds: float = 10.0  # how often open windows and baselines are written to the state store
    max_models: int = 100  # model versions tracked; further ones are ignored (logged once)
    max_features: int = 200  # features per model version; further ones are ignored (logged once)
    segments: list[str] = field(default_factory=list)  # ml.segment.<key>: windows per value of each key
    max_segment_values: int = 20  # values per model version and key; further ones share "__other__"

    def validate(self) -> None:
        _positive_int("baseline.warmup", self.baseline.warmup)
        _positive_int("window.size", self.window.size)
        if self.window.seconds < 0:
            raise ValueError(
                f"window.seconds must be >= 0 (0 = count-only windows), got {self.window.seconds}"
            )
        if self.window.min_samples < 0:
            raise ValueError(f"window.min_samples must be >= 0, got {self.window.min_samples}")
        if self.window.min_samples > self.window.size:
            raise ValueError(
                f"window.min_samples ({self.window.min_samples}) exceeds window.size ({self.window.size}): "
                "no window could ever be scored"
            )
        for key in ("methods", "alert_methods"):
            chosen = getattr(self, key)
            if chosen is None:
                continue
            if not chosen:
                raise ValueError(f"{key} must name at least one method; omit the key for the defaults")
            for m in chosen:
                if m not in ALL_METHODS:
                    raise ValueError(f"{key}: unknown method {m!r}; choose from {', '.join(ALL_METHODS)}")
        for m, t in self.thresholds.items():
            if m not in ALL_METHODS:
                raise ValueError(f"thresholds.{m}: unknown method; choose from {', '.join(ALL_METHODS)}")
            if not isinstance(t, int | float) or isinstance(t, bool) or not t > 0:
                raise ValueError(f"thresholds.{m} must be a positive number, got {t!r}")
        _positive_int("exemplars.per_bin", self.exemplars.per_bin)
        _positive_int("exemplars.per_point", self.exemplars.per_point)
        if self.exemplars.per_point > MAX_EXEMPLARS_PER_POINT:
            raise ValueError(
                f"exemplars.per_point must be at most {MAX_EXEMPLARS_PER_POINT}, "
                f"got {self.exemplars.per_point}"
            )
        _positive_int("exemplars.top_bins", self.exemplars.top_bins)
        if not 0 <= self.enrich.rare_fraction < 1:
            raise ValueError(f"enrich.rare_fraction must be in [0, 1), got {self.enrich.rare_fraction}")
        if not self.checkpoint_seconds > 0:
            raise ValueError(f"checkpoint_seconds must be > 0, got {self.checkpoint_seconds}")
        _positive_int("max_models", self.max_models)
        _positive_int("max_features", self.max_features)
        _positive_int("max_segment_values", self.max_segment_values)
        if len(set(self.segments)) != len(self.segments):
            raise ValueError(f"segments: a key is listed twice in {self.segments!r}")


def _positive_int(key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")


_SECTIONS: dict[str, type] = {
    "baseline": BaselineConfig,
    "window": WindowConfig,
    "exemplars": ExemplarConfig,
    "enrich": EnrichConfig,
}
_SCALARS = {
    "methods",
    "alert_methods",
    "thresholds",
    "checkpoint_seconds",
    "max_models",
    "max_features",
    "segments",
    "max_segment_values",
}


def config_from_dict(raw: dict[str, Any] | None) -> DriftConfig:
    """Build a `DriftConfig` from the YAML mapping; unknown keys and wrong types name the key."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"must be a mapping, got {type(raw).__name__}")
    cfg = DriftConfig()
    for key, value in raw.items():
        if key in _SECTIONS:
            section = getattr(cfg, key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ValueError(f"{key} must be a mapping, got {type(value).__name__}")
            for sub, v in value.items():
                if sub not in section.__dataclass_fields__:
                    known = ", ".join(section.__dataclass_fields__)
                    raise ValueError(f"{key}.{sub}: unknown key (known: {known})")
                setattr(section, sub, _coerce(f"{key}.{sub}", getattr(section, sub), v))
        elif key in _SCALARS:
            setattr(cfg, key, _coerce(key, getattr(cfg, key), value))
        else:
            known = ", ".join([*_SECTIONS, *sorted(_SCALARS)])
            raise ValueError(f"{key}: unknown key (known: {known})")
    return cfg


def _coerce(key: str, default: Any, value: Any) -> Any:
    if key == "baseline.path":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ValueError(f"{key} must be a file path or a list of file paths, got {value!r}")
    if key == "segments":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{key} must be a list of segment keys (ml.segment.<key>), got {value!r}")
        return value
    if key in ("methods", "alert_methods"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of method names, got {value!r}")
        return value
    if key == "thresholds":
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping of method -> threshold, got {value!r}")
        return {str(k): v for k, v in value.items()}
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    return value
