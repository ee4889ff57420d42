"""The drift processor's read side: `GET /v1/drift` and `GET /v1/drift/history` answers, built from
copies taken under the processor's lock (a mixin of `DriftProcessor`, like `Persistence`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otelml_collector.findings import Finding
from otelml_collector.processors.drift.history import history_document

__all__ = ["DriftQueries"]


class DriftQueries:
    """Query methods; the processor provides the state they read."""

    config: Any
    _ctx: Any
    _lock: Any
    _models: dict[Any, Any]
    _results: dict[Any, Any]
    _history: Any
    _since: dict[Any, int]

    def query(self, params: Mapping[str, str]) -> Any:
        model = params.get("model")
        with self._lock:
            results = {k: list(v) for k, v in self._results.items()}
            states = list(self._models.values())
            status = [
                {
                    "model": s.key[0],
                    "version": s.key[1],
                    "segment": dict(zip(s.key[2::2], s.key[3::2], strict=True)),
                    "baseline": s.baseline.source if s.baseline else None,
                    "warmup": None
                    if s.warmup is None
                    else {"count": s.warmup.count, "target": s.warmup.target},
                    "open_window": None
                    if s.window is None
                    else {"count": s.window.count, "size": self.config.window.size},
                }
                for s in states
                if model is None or s.key[0] == model
            ]
        if model is not None and not status and not any(k[0] == model for k in results):
            from otelml_collector.httpapi import ApiError

            known = sorted({s.key[0] for s in states} | {k[0] for k in results})
            raise ApiError(404, f"no drift state for model {model!r}; known models: {known or 'none yet'}")
        rows = [
            r.to_json() for k, rs in sorted(results.items()) if model is None or k[0] == model for r in rs
        ]
        return {
            "drift": rows,
            "models": status,
            "trace_url_template": (self._ctx.settings or {}).get("trace_url_template"),
        }

    def history(self, params: Mapping[str, str]) -> Any:
        """`GET /v1/drift/history?model=&last=&counts=all|last`: scores and bin counts of the last closed
        windows per model version, oldest first, with the reference profiles (docs/drift.md)."""
        from otelml_collector.httpapi import ApiError

        unknown = sorted(set(params) - {"model", "last", "counts"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown parameter (valid: counts, last, model)")
        counts = params.get("counts", "all")
        if counts not in ("all", "last"):
            raise ApiError(400, f"counts: expected all or last, got {counts!r}")
        last = params.get("last")
        if last is not None and not last.isdigit():
            raise ApiError(400, f"last: expected a non-negative integer, got {last!r}")
        model = params.get("model")
        with self._lock:
            snapshot = self._history.snapshot(model)
            baselines = {
                k: s.baseline
                for k, s in self._models.items()
                if s.baseline is not None and (model is None or k[0] == model)
            }
        return history_document(snapshot, baselines, None if last is None else int(last), counts == "last")

    def findings(self, model: str, since_unix_nano: int) -> list[Finding]:
        """Drifted features (data layer) and drifted predictions (model layer) of the last closed
        window of each version (and segment) of `model` that ended after `since_unix_nano`
        (`FindingSource`); first seen at the start of the window the score crossed its threshold in."""
        with self._lock:
            rows = [r for k, rs in self._results.items() if k[0] == model for r in rs]
            since = dict(self._since)
        out = []
        for r in rows:
            if not r.drifted or r.window_end_ns < since_unix_nano:
                continue
            detail = {"version": r.version, "feature": r.feature, "method": r.method,
                      "score": round(r.score, 6), "threshold": r.threshold, "window_n": r.count}  # fmt: skip
            if r.segment:
                detail["segment"] = dict(r.segment)
            out.append(Finding(
                "data" if r.kind == "feature" else "model",
                "feature_drift" if r.kind == "feature" else "prediction_drift",
                detail,
                tuple(dict.fromkeys(e.trace_id.hex() for e in r.exemplars)),
                since.get(r.ident, r.window_start_ns),
            ))  # fmt: skip
        return out
