"""From drift to predictions: the stored predictions behind a feature's drift score.

`GET /v1/drift/predictions?model=&feature=[&version=&limit=]` takes the drift processor's last closed
window of that model version (its results and its last checkpointed baseline live in the shared state
database), reads the
feature's value on every stored inference span of the window's time range, bins the values with the
baseline profile, and ranks the predictions by their bin's share of the score: the PSI term
(p_window - p_reference) * ln(p_window / p_reference) of the bin, largest first. Every trace id in the
answer resolves with `otelml trace`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from otelml.semconv import normalize_feature_name
from otelml_collector.httpapi import ApiError
from otelml_collector.predstore.documents import any_value, iter_spans
from otelml_collector.predstore.store import PredictionStore
from otelml_collector.state import StateStore

__all__ = ["explain"]

NS_RESULTS, NS_BASELINE = "drift.results", "drift.baseline"
_EPS = 1e-4


def _last_result(
    state: StateStore, model: str, version: str | None, feature: str
) -> tuple[str, dict[str, Any]]:
    best: tuple[str, dict[str, Any]] | None = None
    for key, rows in state.items(NS_RESULTS):
        m, v, *segment = json.loads(key)
        if segment or m != model or (version is not None and v != version):
            continue
        for row in rows:
            if row["feature"] != feature:
                continue
            newer = best is None or row["window"]["end_unix_nano"] > best[1]["window"]["end_unix_nano"]
            if newer or (
                row["window"]["end_unix_nano"] == best[1]["window"]["end_unix_nano"] and row["drifted"]
            ):
                best = (v, row)
    if best is None:
        raise ApiError(404, f"no closed drift window of model {model!r} scores feature {feature!r} (yet)")
    return best


def _bin_label(profile: Any, b: int) -> Any:
    edges = getattr(profile, "edges", None)
    if edges is not None:
        lo = float(edges[b - 1]) if b > 0 else None
        hi = float(edges[b]) if b < len(edges) else None
        return [lo, hi]
    categories = profile.categories
    return categories[b] if b < len(categories) else "<other>"


def explain(state: StateStore, store: PredictionStore, query: Mapping[str, str]) -> dict[str, Any]:
    from otelml_collector.processors.drift.window import ModelBaseline

    model, raw_feature = query.get("model"), query.get("feature")
    if not model:
        raise ApiError(400, "model: required (the model whose drift is explained)")
    if not raw_feature:
        raise ApiError(400, "feature: required (a feature name as in ml.feature.<name>)")
    limit_text = query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ApiError(400, f"limit: expected an integer from 1 to 1000, got {limit_text!r}")
    feature = normalize_feature_name(raw_feature)
    version, result = _last_result(state, model, query.get("version"), feature)
    stored = state.get(NS_BASELINE, json.dumps([model, version]))
    if stored is None:
        raise ApiError(
            404,
            f"no drift baseline of model {model!r} version {version!r} in the state database yet (the drift "
            "processor writes it every checkpoint_seconds)",
        )
    profile = ModelBaseline.from_json(stored).profiles.get(feature)
    if profile is None:
        raise ApiError(404, f"the drift baseline of model {model!r} has no feature {feature!r}")
    window = result["window"]
    lo, hi = window["start_unix_nano"], window["end_unix_nano"]
    wanted: dict[tuple[bytes, bytes], str] = {}
    chunks: set[int] = set()
    for chunk_id, p in store.chunk_predictions():
        ok = np.asarray([m == (model, version) for m in p.models], dtype=bool)
        rows = np.flatnonzero(ok[p.model_index] & (p.times >= lo) & (p.times <= hi))
        for i in rows.tolist():
            wanted[(p.trace_ids[16 * i : 16 * i + 16], p.span_ids[8 * i : 8 * i + 8])] = p.pids[i]
        if len(rows):
            chunks.add(chunk_id)
    keys = {f"ml.feature.{raw_feature}", f"ml.feature.{feature}"}
    found: list[tuple[str, bytes, bytes, Any]] = []
    for body in store.bodies(chunks):
        for span, _ in iter_spans(body):
            pid = wanted.get((span.trace_id, span.span_id))
            if pid is None:
                continue
            for kv in span.attributes:
                if kv.key in keys:
                    value = any_value(kv.value)
                    found.append(
                        (pid, span.trace_id, span.span_id, value[0] if isinstance(value, list) else value)
                    )
                    break
    out: dict[str, Any] = {
        "model": model,
        "version": version,
        "feature": feature,
        "method": result["method"],
        "score": result["score"],
        "drifted": result["drifted"],
        "window": window,
        "predictions": [],
    }
    if not found:
        return out
    if hasattr(profile, "edges"):
        numbers = [
            f[3] if isinstance(f[3], int | float) and not isinstance(f[3], bool) else math.nan for f in found
        ]
        bins = profile.bin_index(np.asarray(numbers, dtype=np.float64))
    else:
        bins = profile.bin_index(np.array([str(f[3]) for f in found], dtype=object))
    ref = np.asarray(profile.counts, dtype=np.float64)
    ref_p = np.maximum(ref / max(ref.sum(), 1.0), _EPS)
    valid = bins >= 0
    cur = np.bincount(bins[valid], minlength=len(ref)).astype(np.float64)
    cur_p = np.maximum(cur / max(cur.sum(), 1.0), _EPS)
    contribution = (cur_p - ref_p) * np.log(cur_p / ref_p)
    order = sorted(range(len(found)), key=lambda i: -contribution[bins[i]] if bins[i] >= 0 else math.inf)
    for i in order[: int(limit_text)]:
        pid, tid, sid, value = found[i]
        b = int(bins[i])
        out["predictions"].append(
            {
                "prediction_id": pid,
                "trace_id": tid.hex(),
                "span_id": sid.hex(),
                "value": value,
                "bin": b,
                "bin_range": _bin_label(profile, b) if b >= 0 else None,
                "contribution": float(contribution[b]) if b >= 0 else None,
            }
        )
    return out
