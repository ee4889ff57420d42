"""The `canary` processor: verdicts on a candidate model version against a baseline, from the calls
both served (`GET /v1/canary?model=&baseline=&candidate=`), and a rollback alert on crossing.

Nothing happens on the hot path: the comparison reads the prediction store (`predstore.calls`) when
asked, and every `evaluate_interval` for the configured pairs and the pairs asked for through the API.
When a pair's verdict turns `rollback` a WARN log record (`ml.canary.rollback`) goes out through the
sidecar's logger provider, with the trace id of a failing candidate call, like the drift alerts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelml_collector import predstore
from otelml_collector.component import ComponentContext
from otelml_collector.configutil import parse_duration
from otelml_collector.predstore.calls import model_calls
from otelml_collector.predstore.reader import StoreReader
from otelml_collector.processors.canary.compare import compare
from otelml_collector.processors.canary.config import CanaryConfig
from otelml_collector.telemetry import SeverityNumber

__all__ = ["ROLLBACK_EVENT", "CanaryProcessor"]

ROLLBACK_EVENT = "ml.canary.rollback"
Pair = tuple[str, str, str]


class CanaryProcessor:
    def __init__(self, config: CanaryConfig, ctx: ComponentContext) -> None:
        from otelml_collector import __version__

        self.config = config
        self._ctx = ctx
        self._log = ctx.log
        self._lock = threading.Lock()
        self._pairs: dict[Pair, str] = {(p.model, p.baseline, p.candidate): "" for p in config.evaluate}
        self._logger = ctx.logger_provider.get_logger("otelml_collector.canary", __version__)
        self._reader = StoreReader(ctx, config.evaluate_interval, self._evaluate_pairs, "comparing versions")
        self.alerts = 0

    @property
    def store(self) -> predstore.PredictionStore | None:
        return self._reader.store

    def start(self) -> None:
        self._reader.start()
        if self._ctx.http_api is not None:
            self._ctx.http_api.add_get("/v1/canary", self.query, post=True)  # Flagger webhooks POST

    def shutdown(self) -> None:
        self._reader.stop()

    def process(self, request: Any) -> Any:
        return request

    def _evaluate_pairs(self) -> None:
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            try:
                self.evaluate(*pair)
            except Exception as exc:
                self._log.warning("canary: comparing %s failed: %s", pair, exc, exc_info=True)

    def evaluate(
        self, model: str, baseline: str, candidate: str, since_s: float | None = None
    ) -> dict[str, Any]:
        """Compare the two versions now; raise the rollback alert when the verdict turns rollback."""
        store = self.store
        if store is None:
            raise RuntimeError("canary: not started")
        since = self.config.since if since_s is None else since_s
        calls = model_calls(store, model, since_ns=time.time_ns() - int(since * 1e9),
                            versions={baseline, candidate}, per_version=self.config.max_calls,
                            max_calls=2 * self.config.max_calls, with_traces=False)
        base = [c for c in calls if c.version == baseline and c.role != "shadow"]
        cand = [c for c in calls if c.version == candidate]
        anns = store.annotations(sorted({c.prediction_id for c in calls}))
        labels = {pid: a[1] for pid, a in anns.items() if a[1] is not None}
        out = compare(model, baseline, candidate, base, cand, labels, self.config)
        pair = (model, baseline, candidate)
        with self._lock:
            previous = self._pairs.get(pair, "")
            self._pairs[pair] = out["verdict"]
        if out["verdict"] == "rollback" and previous != "rollback":
            self._alert(out, next((c for c in cand if c.trace_id.hex() in out["trace_ids"]), None))
        return out

    def _alert(self, out: dict[str, Any], call: Any) -> None:
        self.alerts += 1
        context = None
        if call is not None:
            span = SpanContext(int.from_bytes(call.trace_id, "big"), int.from_bytes(call.span_id, "big"),
                               is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = set_span_in_context(NonRecordingSpan(span))
        body = (f"canary rollback: model {out['model']} version {out['candidate']} against {out['baseline']} "
                f"({out['mode']}): {out['reason']}")
        attributes: dict[str, Any] = {
            "ml.model.name": out["model"], "ml.model.version": out["candidate"],
            "ml.canary.baseline": out["baseline"], "ml.canary.verdict": out["verdict"],
            "ml.canary.failed_checks": list(out["failed"]), "ml.deployment.role": out["mode"],
        }
        if call is not None:
            attributes["ml.prediction.id"] = call.prediction_id
        self._logger.emit(timestamp=time.time_ns(), context=context, severity_number=SeverityNumber.WARN,
                          severity_text="WARN", body=body, attributes=attributes, event_name=ROLLBACK_EVENT)

    def query(self, query: Mapping[str, str]) -> Any:
        from otelml_collector.httpapi import ApiError

        valid = ("model", "baseline", "candidate", "since", "gate")
        unknown = sorted(set(query) - set(valid))
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown parameter (valid: {', '.join(valid)})")
        missing = [k for k in valid[:3] if not query.get(k)]
        if missing:
            raise ApiError(400, f"{missing[0]}: required (model, baseline and candidate versions)")
        if query["baseline"] == query["candidate"]:
            raise ApiError(400, "candidate: must differ from baseline")
        gate = query.get("gate")
        if gate not in (None, "rollback", "promote"):
            raise ApiError(400, f"gate: rollback or promote, got {gate!r}")
        try:
            since = parse_duration(query["since"], "since") if query.get("since") else None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        out = self.evaluate(query["model"], query["baseline"], query["candidate"], since)
        absent = [query[k] for k in ("baseline", "candidate") if not out["samples"][k]]
        if absent:
            raise ApiError(404, f"no stored calls of model {query['model']!r} version {absent[0]!r} "
                                "in the look-back (check the version, or widen since=)")
        # gate=rollback: non-2xx only on rollback (Flagger rollout webhook); gate=promote: 2xx only on promote
        verdict = out["verdict"]
        if (gate == "rollback" and verdict == "rollback") or (gate == "promote" and verdict != "promote"):
            return 409, out
        return out
