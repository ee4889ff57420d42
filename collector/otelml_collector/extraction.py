"""`ml_extract`: turn inference spans into columnar ML records for the drift/quality/performance processors.

For every traces request the processor scans the received bytes once (a C wire-format scanner when
built, else protobuf; identical results) and appends one `ModelBatch` per (model, version) to
`request.records`. The request itself is not touched, so it is forwarded as the bytes it arrived in.
What counts as an inference span and how attributes become rows and columns is documented in
`extraction_scan` and `extraction_assemble`.

Configuration (`processors.ml_extract`), every key optional:

```yaml
processors:
  ml_extract:
    max_models: 100                  # distinct (model, version) pairs; spans of further models are skipped
    max_features_per_model: 500      # features + segment keys per model; further ones are skipped
    max_categories_per_feature: 1000 # distinct values per categorical feature; further ones -> "__other__"
```

When a cap is first hit the sidecar logs one WARNING naming the cap, the model and the config key;
every refused value is counted in the metric `otelml_collector.extract.capped{cap}`. Other metrics:
`otelml_collector.extract.spans`, `.rows`, `.invalid_values{ml.model.name, ml.model.version,
ml.feature.name}`, `.dropped_spans{reason}` (`no_model`, `undecodable`). Extraction never raises
into the pipeline: a request it cannot read is forwarded anyway and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from opentelemetry.metrics import CallbackOptions, Observation

from otelml_collector import __version__, registry
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.extraction_assemble import Caps, Outcome, Schema, assemble
from otelml_collector.extraction_scan import HAVE_FAST_SCAN, Scan, scan, scan_message
from otelml_collector.pipeline import Signal, TelemetryRequest

__all__ = ["MLExtractConfig", "MLExtractFactory", "MLExtractProcessor"]

TYPE = "ml_extract"


@dataclass
class MLExtractConfig(ComponentConfig):
    max_models: int = 100
    max_features_per_model: int = 500
    max_categories_per_feature: int = 1000

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{f.name} must be a positive integer, got {value!r}")

    def caps(self) -> Caps:
        return Caps(self.max_models, self.max_features_per_model, self.max_categories_per_feature)


_CAP_KEYS = {
    "models": "max_models",
    "features": "max_features_per_model",
    "categories": "max_categories_per_feature",
}


class MLExtractProcessor:
    def __init__(self, config: MLExtractConfig, ctx: ComponentContext) -> None:
        self.config = config
        self._ctx = ctx
        self._log = ctx.log.getChild(TYPE) if ctx.log else logging.getLogger("otelml_collector.ml_extract")
        self._schema = Schema(config.caps())
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._invalid: Counter[tuple[str, str, str]] = Counter()
        self._warned: set[str] = set()
        self._register_instruments()
        if not HAVE_FAST_SCAN:
            self._log.warning(
                "ml_extract: the C scanner otelml_collector._fastscan is not built (no compiler at install "
                "time?); using the pure-Python path, ~20x slower. Reinstall with gcc available to fix."
            )

    def start(self) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal != Signal.TRACES:
            return request
        try:
            scanned = self._scan(request)
            if scanned is None:
                return request
            with self._lock:
                outcome = assemble(scanned, self._schema)
                self._account(outcome)
            request.records.extend(outcome.batches)
        except Exception:  # never break the pipeline over telemetry
            self._once("internal", "ml_extract: extraction failed; the request is forwarded unchanged", True)
            with self._lock:
                self._counts["dropped", "internal_error"] += 1
        return request

    def _scan(self, request: TelemetryRequest) -> Scan | None:
        try:
            if request.raw is not None and not request.modified:
                return scan(request.raw)
            return scan_message(request.message)
        except Exception as exc:
            self._once("undecodable", f"ml_extract: a traces request could not be decoded ({exc}); skipped")
            with self._lock:
                self._counts["dropped", "undecodable"] += 1
            return None

    def _account(self, outcome: Outcome) -> None:
        c = self._counts
        c["spans",] += outcome.spans
        c["rows",] += outcome.rows
        if outcome.dropped_no_model:
            c["dropped", "no_model"] += outcome.dropped_no_model
            self._once(
                "no_model",
                "ml_extract: inference spans without ml.model.name (and no 'inference <model>' span name) "
                "are skipped; set ml.model.name on them",
            )
        for cap, n in outcome.capped.items():
            c["capped", cap] += n
            key = _CAP_KEYS[cap]
            self._once(
                f"cap:{cap}",
                f"ml_extract: cap processors.{self._ctx.name}.{key}={getattr(self.config, key)} reached; "
                f"further {cap} are {'mapped to __other__' if cap == 'categories' else 'not extracted'} "
                f"(counted in otelml_collector.extract.capped); raise {key} if this is expected",
            )
        for batch in outcome.batches:
            for feature, n in batch.invalid.items():
                self._invalid[batch.model, batch.version, feature] += n

    def _once(self, what: str, message: str, exc_info: bool = False) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        self._log.warning(message, exc_info=exc_info)

    def snapshot(self) -> dict[str, Any]:
        """Counters for status pages and tests."""
        with self._lock:
            return {
                "spans": self._counts["spans",],
                "rows": self._counts["rows",],
                "dropped": {k[1]: v for k, v in self._counts.items() if k[0] == "dropped"},
                "capped": {k[1]: v for k, v in self._counts.items() if k[0] == "capped"},
                "invalid": {"/".join(k): v for k, v in self._invalid.items()},
                "models": len(self._schema.models),
            }

    def _register_instruments(self) -> None:
        meter = self._ctx.meter_provider.get_meter("otelml_collector.extraction", __version__)

        def observe(kind: str, label: str | None) -> Any:
            def callback(options: CallbackOptions) -> Iterable[Observation]:
                with self._lock:
                    rows = [(k, v) for k, v in self._counts.items() if k[0] == kind]
                if label is None:
                    return [Observation(v) for _, v in rows] or [Observation(0)]
                return [Observation(v, {label: k[1]}) for k, v in rows]

            return callback

        def observe_invalid(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                rows = list(self._invalid.items())
            return [
                Observation(v, {"ml.model.name": m, "ml.model.version": ver, "ml.feature.name": f})
                for (m, ver, f), v in rows
            ]

        prefix = "otelml_collector.extract."
        meter.create_observable_counter(
            prefix + "spans", [observe("spans", None)], "{span}", "inference spans extracted"
        )
        meter.create_observable_counter(
            prefix + "rows", [observe("rows", None)], "{row}", "ML records extracted"
        )
        meter.create_observable_counter(
            prefix + "dropped_spans",
            [observe("dropped", "reason")],
            "{span}",
            "inference spans (or requests, reason=undecodable) not extracted, by reason",
        )
        meter.create_observable_counter(
            prefix + "capped", [observe("capped", "cap")], "{value}", "values refused by a cap, by cap"
        )
        meter.create_observable_counter(
            prefix + "invalid_values",
            [observe_invalid],
            "{value}",
            "wrong-typed or non-finite values, by model and feature",
        )


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


registry.register(MLExtractFactory())
