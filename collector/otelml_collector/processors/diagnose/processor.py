"""The `diagnose` processor: is it the data, the model or the system? `GET /v1/diagnose?model=&since=`.

It learns nothing of its own on the hot path: `process` only counts calls per model version, so it
knows when a version's warm-up (the same first `drift.baseline.warmup` predictions the drift baseline
is learned from) is complete. A worker then reads those calls back from the prediction store and keeps
their span reference (`signals.Reference`, persisted under `diagnose.reference`). A diagnosis asks every
peer processor that is a `FindingSource` (drift, quality, performance) for its degraded signals and
adds the span signals of the look-back's stored calls against the reference.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from otelml_collector import predstore
from otelml_collector.component import ComponentContext
from otelml_collector.configutil import parse_duration
from otelml_collector.findings import LAYERS, Finding, FindingSource
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.predstore.calls import Call, model_calls
from otelml_collector.predstore.reader import StoreReader
from otelml_collector.processors.diagnose.config import DiagnoseConfig, load_reference_file
from otelml_collector.processors.diagnose.signals import Reference, learn_reference, span_findings

__all__ = ["NS_REFERENCE", "DiagnoseProcessor", "verdict_of"]

NS_REFERENCE = "diagnose.reference"
_DEFAULT_WARMUP = 1000


def _iso(ns: int) -> str | None:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z") if ns else None


def verdict_of(findings: list[Finding]) -> dict[str, Any]:
    """Layers with their evidence, and the verdict: the layer that degraded first (ties: data, model,
    system — a cause shows in the same window as its effect)."""
    layers: dict[str, Any] = {}
    first: dict[str, int] = {}
    for layer in LAYERS:
        mine = sorted((f for f in findings if f.layer == layer), key=lambda f: f.first_seen_unix_nano)
        evidence = [{**f.to_json(), "first_seen": _iso(f.first_seen_unix_nano)} for f in mine]
        layers[layer] = {"status": "degraded" if mine else "ok", "evidence": evidence}
        if mine:
            first[layer] = min(f.first_seen_unix_nano for f in mine)
    order = sorted(first, key=lambda layer: (first[layer], LAYERS.index(layer)))
    verdict = order[0] if order else "none"
    if len(order) > 1:
        layers[verdict]["evidence"].insert(0, {
            "signal": "degraded_first",
            "detail": {"order": order, "first_seen": {layer: _iso(first[layer]) for layer in order}},
            "trace_ids": [],
        })
    return {"verdict": verdict, "layers": layers}


class DiagnoseProcessor:
    def __init__(self, config: DiagnoseConfig, ctx: ComponentContext) -> None:
        self.config = config
        self._ctx = ctx
        self._log = ctx.log
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}
        self._refs: dict[tuple[str, str], Reference] = {}
        self._given = load_reference_file(config.baseline.path) if config.baseline.path else None
        self._reader = StoreReader(ctx, config.learn_interval, self.learn, "learning references")

    @property
    def store(self) -> predstore.PredictionStore | None:
        return self._reader.store

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        for key, ref in self._ctx.state.items(NS_REFERENCE):
            self._refs[tuple(json.loads(key))] = Reference.from_json(ref)  # type: ignore[index]
        self._reader.start()
        if self._ctx.http_api is not None:
            self._ctx.http_api.add_get("/v1/diagnose", self.query)

    def shutdown(self) -> None:
        self._reader.stop()

    def process(self, request: TelemetryRequest) -> TelemetryRequest:
        if request.signal == Signal.TRACES and request.records:
            with self._lock:
                for batch in request.records:
                    self._seen[batch.key] = self._seen.get(batch.key, 0) + len(batch)
        return request

    # -- references --------------------------------------------------------------------------------
    @property
    def warmup(self) -> int:
        if self.config.warmup:
            return self.config.warmup
        for name, peer in self._ctx.peers().items():
            if name.split("/", 1)[0] == "drift":
                return int(peer.config.baseline.warmup)
        return _DEFAULT_WARMUP

    def learn(self) -> None:
        """Learn the reference of every version whose warm-up is complete (and stored)."""
        with self._lock:
            due = [k for k, n in self._seen.items() if n >= self.warmup and k not in self._refs]
        for key in due:
            self.reference(*key)

    def reference(self, model: str, version: str) -> Reference | None:
        ref = self._refs.get((model, version))
        if ref is not None or self.store is None:
            return ref
        warmup = self.warmup
        calls = [c for c in model_calls(self.store, model, versions={version}, oldest_first=True,
                                        per_version=warmup, max_calls=warmup) if c.role != "shadow"]
        seen = self._seen.get((model, version), 0)
        if len(calls) < warmup and not (seen >= 2 * warmup and len(calls) >= self.config.min_samples):
            return None  # not stored yet (or evicted and too few left)
        ref = learn_reference(calls, self.config, self._given)
        ref.until_ns = calls[-1].end_ns
        self._refs[(model, version)] = ref
        self._ctx.state.put(NS_REFERENCE, json.dumps([model, version]), ref.to_json())
        self._log.info(
            "diagnose: reference of %s version %s learned from %d calls", model, version or "-", len(calls)
        )
        return ref

    # -- diagnosis ---------------------------------------------------------------------------------
    def diagnose(self, model: str, since_s: float | None = None) -> dict[str, Any]:
        since_s = self.config.since if since_s is None else since_s
        since_ns = time.time_ns() - int(since_s * 1e9)
        findings: list[Finding] = []
        for name, peer in self._ctx.peers().items():
            if peer is not self and isinstance(peer, FindingSource):
                try:
                    findings.extend(peer.findings(model, since_ns))
                except Exception as exc:
                    self._log.warning("diagnose: processor %s could not report: %s", name, exc, exc_info=True)
        calls: list[Call] = []
        if self.store is not None:
            calls = model_calls(self.store, model, since_ns=since_ns, max_calls=self.config.max_calls)
        versions: dict[str, list[Call]] = {}
        for c in calls:
            if c.role != "shadow":
                versions.setdefault(c.version, []).append(c)
        references = {}
        for version, mine in versions.items():
            ref = self.reference(model, version)
            if ref is None:
                continue
            references[version] = ref.source
            current = [c for c in mine if c.end_ns > ref.until_ns]
            findings.extend(span_findings(version, current, ref, self.config))
        drifted = {f.detail.get("version") for f in findings if f.signal == "feature_drift"}
        findings = [  # prediction drift counts against the model only without feature drift
            f for f in findings if not (f.signal == "prediction_drift" and f.detail.get("version") in drifted)
        ]
        known = bool(calls or findings) or any(k[0] == model for k in (*self._seen, *self._refs))
        out = {"model": model, "since": _iso(since_ns), **verdict_of(findings),
               "calls": len(calls), "references": references}
        return out if known else {"error": f"no predictions of model {model!r} seen", **out}

    def query(self, query: Mapping[str, str]) -> Any:
        from otelml_collector.httpapi import ApiError

        unknown = sorted(set(query) - {"model", "since"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown parameter (valid: model, since)")
        model = query.get("model")
        if not model:
            raise ApiError(400, "model: required (the model to diagnose)")
        since = None
        if query.get("since"):
            try:
                since = parse_duration(query["since"], "since")
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
        out = self.diagnose(model, since)
        if "error" in out:
            known = sorted({k[0] for k in (*self._seen, *self._refs)})
            raise ApiError(404, f"{out['error']}; known models: {known or 'none yet'}")
        return out
