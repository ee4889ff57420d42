"""Factory of the `quality` processor: type, default config, expectation loading, views, creation."""

from __future__ import annotations

from typing import Any, ClassVar

from opentelemetry.sdk.metrics.view import View

from otelml.quality import QualityError, load_expectations
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.processors.quality.config import QualityConfig, config_from_dict
from otelml_collector.processors.quality.processor import VIOLATIONS, ModelSuite, QualityProcessor
from otelml_collector.telemetry import SparseExemplarReservoir

__all__ = ["QualityFactory", "load_suites"]


def load_suites(config: QualityConfig) -> dict[str, ModelSuite]:
    """Model name ("" = every other model) -> its expectations and baseline. A broken file is a config
    error (ValueError) naming the key, the file, its line and key."""
    from otelml.quality import load_baseline_file

    cache: dict[tuple[str, str | None], ModelSuite] = {}
    wanted = {"": (config.expectations, config.baseline)} if config.expectations else {}
    for name in config.models:
        wanted[name] = config.files_for(name)
    out: dict[str, ModelSuite] = {}
    for name, (path, baseline_path) in wanted.items():
        pre = f"models.{name}." if name else ""
        if (path, baseline_path) not in cache:
            try:
                exps = load_expectations(path)
                baseline = load_baseline_file(baseline_path) if baseline_path else None
            except QualityError as exc:
                raise ValueError(f"{pre}expectations: {exc}") from None
            drift = [e for e in exps if e.kind == "drift"]
            if drift and baseline is None:
                raise ValueError(f"{pre}baseline: {drift[0].source}: {drift[0].label} needs a baseline "
                                 "file; set it next to the expectations")
            unsupported = [e for e in exps if e.kind == "unsupported"]
            if unsupported:
                raise ValueError(f"{pre}expectations: {unsupported[0].source}: "
                                 f"{unsupported[0].params['reason']}")
            cache[(path, baseline_path)] = ModelSuite(path, exps, baseline)
        out[name] = cache[(path, baseline_path)]
    return out


class QualityFactory:
    type: ClassVar[str] = "quality"
    kind: ClassVar[str] = "processor"
    needs: ClassVar[tuple[str, ...]] = ("ml_extract",)  # reads the records it extracts

    def default_config(self) -> QualityConfig:
        return QualityConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> QualityConfig:
        cfg = config_from_dict(raw)
        cfg.validate()
        load_suites(cfg)  # a missing or broken expectations file is a config error
        return cfg

    def metric_views(self, config: ComponentConfig | None = None) -> list[View]:
        """Keep up to 16 exemplars (violating predictions) per violations point."""

        def reservoir_factory(_aggregation_type: type) -> Any:
            return lambda **kw: SparseExemplarReservoir(size=16, **kw)

        return [View(instrument_name=VIOLATIONS, exemplar_reservoir_factory=reservoir_factory)]

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> QualityProcessor:
        assert isinstance(config, QualityConfig)
        config.validate()
        return QualityProcessor(config, ctx, load_suites(config))
