"""Persistence and query of the `performance` processor: checkpoints to the state database, restore at
start, `GET /v1/performance`, and the reference section of a baseline file."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from otelml_collector.findings import Finding
from otelml_collector.predstore.queries import iso_time
from otelml_collector.processors.performance.metrics import Calibration
from otelml_collector.processors.performance.windows import ModelReference, Window, WindowKey, wrongest

__all__ = ["NS_PENDING", "NS_REFS", "NS_WINDOWS", "Persistence", "load_reference_file"]

NS_WINDOWS, NS_REFS, NS_PENDING = "performance.windows", "performance.reference", "performance.pending"


def load_reference_file(path: str) -> ModelReference:
    """The `performance` section of a baseline file (`otelml baseline build ... --score COL`)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"baseline.path: {path}: cannot read: {exc}") from None
    perf = data.get("performance") if isinstance(data, dict) else None
    if not isinstance(perf, dict) or not isinstance(perf.get("metrics"), dict):
        raise ValueError(f"baseline.path: {path}: no `performance` section; build it with --score/--target")
    cal = perf.get("calibration")
    return ModelReference(
        perf.get("task"), perf["metrics"], Calibration.from_json(cal) if cal else None, path
    )


class Persistence:
    """Mixin of `PerformanceProcessor` (its state attributes are declared here)."""

    config: Any
    _counts: dict[str, int]
    index: Any
    _ctx: Any
    _lock: threading.RLock
    _windows: dict[WindowKey, deque[Window]]
    _index: dict[str, list[tuple[Window, int]]]
    _refs: dict[tuple[str, str], ModelReference]
    _segment_values: dict[str, set[str]]
    _seq: int
    _last_checkpoint: float

    def _evaluate_dirty(self) -> None:
        raise NotImplementedError

    def query(self, query: dict[str, str]) -> dict[str, Any]:
        from otelml_collector.httpapi import ApiError

        unknown = sorted(set(query) - {"model", "version", "segment"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown parameter (valid: model, version, segment)")
        segment = query.get("segment", "")
        with self._lock:
            self._evaluate_dirty()
            out = []
            for (model, version, seg_key, seg_value), windows in self._windows.items():
                if query.get("model") not in (None, model) or query.get("version") not in (None, version):
                    continue
                if seg_key != segment:
                    continue
                for w in windows:
                    out.append(
                        {
                            "model": model,
                            "version": version,
                            "segment": {seg_key: seg_value} if seg_key else {},
                            "start": iso_time(w.start_ns),
                            "end": iso_time(w.end_ns),
                            "n": len(w),
                            "n_labeled": w.label_count,
                            "coverage": w.coverage,
                            "closed": w.closed,
                            "realized": dict(w.realized),
                            "estimated": dict(w.estimated),
                            "alerts": list(w.alerted),  # "realized:f1" ... that alerted in this window
                            "trace_ids": self._wrongest_traces(model, version, w) if w.alerted else [],
                        }
                    )
            out.sort(key=lambda d: (d["start"] or "", d["model"], d["version"]))
            return {"windows": out, "counts": self.counts}

    def _task(self, model: str, version: str, w: Window) -> str:
        raise NotImplementedError

    def _wrongest_traces(self, model: str, version: str, w: Window, n: int = 3) -> list[str]:
        """Trace ids (hex) of the `n` wrongest predictions of a window (`wrongest`), wrongest first."""
        ref = self._refs.get((model, version)) or ModelReference()
        rows = wrongest(w, self._task(model, version, w), self.config.positive_label, n, ref)
        return list(dict.fromkeys(w.trace_ids[r].hex() for r in rows))

    def findings(self, model: str, since_unix_nano: int) -> list[Finding]:
        """Windows of `model` (whole versions, not segments) ending after `since_unix_nano` whose
        realized or estimated metric is worse than the reference by more than its threshold, with
        the wrongest predictions (`FindingSource`)."""
        out = []
        with self._lock:
            self._evaluate_dirty()
            for (m, version, seg_key, _), windows in self._windows.items():
                if m != model or seg_key:
                    continue
                for w in windows:
                    if (w.end_ns or w.start_ns) < since_unix_nano:
                        continue
                    for name, hit in w.breached.items():
                        if not hit:
                            continue
                        kind, _, metric = name.partition(":")
                        values = w.realized if kind == "realized" else w.estimated
                        ref = self._refs.get((m, version))
                        detail = {"version": version, "metric": metric, "kind": kind,
                                  "value": values.get(metric),
                                  "reference": ref.metrics.get(metric) if ref else None,
                                  "threshold": self.config.thresholds.get(metric), "window_n": len(w),
                                  "coverage": round(w.coverage, 4)}
                        traces = tuple(self._wrongest_traces(m, version, w, 5))
                        out.append(Finding("model", "performance", detail, traces, w.start_ns))
        return out

    # -- persistence ---------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        state = self._ctx.state
        with state.transaction():
            state.clear(NS_WINDOWS)
            for key, windows in self._windows.items():
                state.put(NS_WINDOWS, "\x1f".join(key), [w.to_json() for w in windows])
            for (model, version), ref in self._refs.items():
                if ref.source != self.config.baseline.path:
                    state.put(NS_REFS, f"{model}\x1f{version}", ref.to_json())
            self.index.checkpoint()
            state.put(
                NS_PENDING,
                "meta",
                {
                    "seq": self._seq,
                    "counts": self._counts,
                    "segments": {k: sorted(v) for k, v in self._segment_values.items()},
                },
            )
        self._last_checkpoint = time.monotonic()

    def _restore(self) -> None:
        state = self._ctx.state
        for key, ref in state.items(NS_REFS):
            model, version = key.split("\x1f")
            self._refs[(model, version)] = ModelReference.from_json(ref)
        for _, stored in state.items(NS_WINDOWS):
            windows = deque(Window.from_json(w) for w in stored)
            for w in windows:
                for j, pid in enumerate(w.pids):
                    self._index.setdefault(pid, []).append((w, j))
            if windows:
                self._windows[windows[0].key] = windows
        meta = state.get(NS_PENDING, "meta", {})
        self._seq = meta.get("seq", 0)
        self._counts.update((k, v) for k, v in meta.get("counts", {}).items() if k in self._counts)
        for key, values in meta.get("segments", {}).items():
            if key in self._segment_values:
                self._segment_values[key] = set(values)
