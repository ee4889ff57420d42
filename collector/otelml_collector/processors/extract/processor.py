"""The `ml_extract` processor: scans each traces request once and appends one `ModelBatch` per
(model, version) to `request.records`; never raises into the pipeline."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from otelml_collector import __version__
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.extract.assemble import Outcome, Schema, assemble
from otelml_collector.processors.extract.config import TYPE, MLExtractConfig
from otelml_collector.processors.extract.scan import HAVE_FAST_SCAN, Scan, scan, scan_message

__all__ = ["MLExtractProcessor"]


_CAP_KEYS = {
    "models": "max_models",
    "features": "max_features_per_model",
    "categories": "max_categories_per_feature",
    "strings": "max_string_bytes",
}
_CAP_EFFECT = {"categories": "mapped to __other__", "strings": "truncated"}


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
                "ml_extract: the C scanner otelml_collector.otlp._fastscan is not built (no compiler at "
                "install time?); using the pure-Python path, ~20x slower. Reinstall with gcc available."
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
            raw = request.unmodified_bytes()
            return scan(raw) if raw is not None else scan_message(request.message)
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
                f"further {cap} are {_CAP_EFFECT.get(cap, 'not extracted')} "
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
