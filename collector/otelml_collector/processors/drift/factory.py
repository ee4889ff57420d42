"""Factory of the `drift` processor: type, default config, views, creation."""

from __future__ import annotations

from typing import Any, ClassVar

from opentelemetry.sdk.metrics.view import View

from otelml import stats
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.drift.config import MAX_EXEMPLARS_PER_POINT, DriftConfig, config_from_dict
from otelml_collector.processors.drift.outputs import drift_views
from otelml_collector.processors.drift.processor import DriftProcessor
from otelml_collector.processors.drift.window import ModelBaseline

__all__ = ["DriftFactory", "load_file_baselines"]


def load_file_baselines(config: DriftConfig) -> dict[tuple[str, str], ModelBaseline]:
    """(model, version) -> baseline for every `baseline.path` file; a file without a model version
    applies to every version (key version ""). ValueError names the key and the file."""
    out: dict[tuple[str, str], ModelBaseline] = {}
    for path in config.baseline.path:
        try:
            b = stats.load_baseline(path)
        except stats.BaselineError as exc:
            raise ValueError(f"baseline.path: {exc}") from None
        mb = ModelBaseline.from_file(b, path)
        if not mb.profiles:
            raise ValueError(f"baseline.path: {path}: the baseline has no features")
        key = (mb.model, mb.version)
        if key in out:
            raise ValueError(
                f"baseline.path: {path} and {out[key].source} are both for model {key[0]} "
                f"version {key[1] or '(any)'}; keep one"
            )
        mb.mark_rare(config.enrich.rare_fraction)
        out[key] = mb
    return out


class DriftFactory:
    type: ClassVar[str] = "drift"
    kind: ClassVar[str] = "processor"
    needs: ClassVar[tuple[str, ...]] = ("ml_extract",)  # reads the records it extracts

    def default_config(self) -> DriftConfig:
        return DriftConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> DriftConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        load_file_baselines(cfg)  # a missing or broken baseline file is a config error
        return cfg

    def metric_views(self, config: ComponentConfig | None = None) -> list[View]:
        segments = config.segments if isinstance(config, DriftConfig) else ()
        return drift_views(MAX_EXEMPLARS_PER_POINT, segments)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> DriftProcessor:
        assert isinstance(config, DriftConfig)
        config.validate()
        return DriftProcessor(config, ctx, load_file_baselines(config))
