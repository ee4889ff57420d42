"""What a page shows, built from the sidecar's JSON documents (`/v1/drift`, `/v1/drift/history`,
`/v1/performance`, `/v1/quality`, `/v1/drift/predictions`, `/v1/predictions/{id}`): plain dicts for the
templates, with the plotly figures of `_charts`. The same functions serve the sidecar's pages and the
`otelml drift --html` report, so both show the same thing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from otelml.report._charts import (
    Bounded,
    drift_history_figure,
    figure_json,
    histogram_figure,
    performance_figure,
    waterfall_figure,
)

__all__ = ["index_view", "model_view", "prediction_view"]

Doc = Mapping[str, Any]
_FIGURES: Bounded = Bounded(4096)  # (windows, feature, baseline) -> the JSON of its two figures


def _iso(ns: Any) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(int(ns) / 1e9, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def index_view(drift: Doc | None, performance: Doc | None, quality: Doc | None) -> list[dict[str, Any]]:
    """One row per model version: its status (drift / warming up / ok), drifted features, last window,
    the newest realized and estimated metrics, and data-quality violations."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(model: str, version: str) -> dict[str, Any]:
        return rows.setdefault(
            (model, version),
            {"model": model, "version": version, "status": "ok", "detail": "", "drifted": [],
             "window_end": "", "realized": {}, "estimated": {}, "violations": 0},
        )  # fmt: skip

    for s in (drift or {}).get("models", []):
        r = row(s["model"], s["version"])
        if s.get("warmup"):
            r["status"], r["detail"] = (
                "warming up",
                f"baseline {s['warmup']['count']}/{s['warmup']['target']}",
            )
        elif s.get("open_window"):
            r["detail"] = f"open window {s['open_window']['count']}/{s['open_window']['size']}"
    for d in (drift or {}).get("drift", []):
        r = row(d["model"], d["version"])
        r["window_end"] = max(r["window_end"], d["window"]["end"])
        if d.get("drifted") and d["feature"] not in r["drifted"]:
            r["drifted"].append(d["feature"])
    for w in (performance or {}).get("windows", []):
        if w.get("segment"):
            continue
        r = row(w["model"], w["version"])
        r["realized"] = w.get("realized") or r["realized"]
        r["estimated"] = w.get("estimated") or r["estimated"]
    for v in (quality or {}).get("violations", []):
        row(v["model"], v["version"])["violations"] += int(v["count"])
    for r in rows.values():
        if r["drifted"]:
            r["status"] = "drift"
        elif r["violations"] and r["status"] == "ok":
            r["status"] = "quality"
    return sorted(rows.values(), key=lambda r: (r["status"] == "ok", r["model"], r["version"]))


def _version(
    history: Doc | None, drift: Doc | None, performance: Doc | None, wanted: str | None
) -> str | None:
    """The version the page shows: `wanted`, else the one with the newest drift window (performance
    counts when the model has no drift)."""
    versions = [m["version"] for m in (history or {}).get("models", [])]
    versions += [d["version"] for d in (drift or {}).get("drift", [])]
    versions = versions or [w["version"] for w in (performance or {}).get("windows", [])]
    if wanted is not None:
        return wanted
    if not versions:
        return None
    newest = {}
    for m in (history or {}).get("models", []):
        ends = [w["end_unix_nano"] for w in m["windows"]]
        newest[m["version"]] = max(ends) if ends else 0
    return max(set(versions), key=lambda v: (newest.get(v, 0), v))


def model_view(
    model: str,
    drift: Doc | None,
    history: Doc | None,
    performance: Doc | None,
    quality: Doc | None,
    explained: Mapping[str, Doc] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The model page: per feature the drift score over windows and the last window's histogram against
    the baseline, the predictions behind each drifted feature, performance, quality and the alert
    timeline (newest first)."""
    version = _version(history, drift, performance, version)
    versions = sorted({m["version"] for m in (history or {}).get("models", [])}
                      | {s["version"] for s in (drift or {}).get("models", [])})  # fmt: skip
    hist = next(
        (m for m in (history or {}).get("models", []) if m["version"] == version and not m.get("segment")),
        None,
    )
    windows = hist["windows"] if hist else []
    reference = hist["reference"] if hist else {}
    current = [
        d
        for d in (drift or {}).get("drift", [])
        if d["version"] == version and d.get("alerting", True) and not d.get("segment")
    ]
    features: dict[str, dict[str, Any]] = {}
    for d in current:
        f = features.setdefault(d["feature"], {"name": d["feature"], "kind": d["kind"], "drifted": False,
                                                "scores": [], "exemplars": []})  # fmt: skip
        f["drifted"] = f["drifted"] or bool(d["drifted"])
        f["scores"].append(d)
        f["exemplars"] += [e["trace_id"] for e in d.get("exemplars", [])]
    for name in reference:
        features.setdefault(name, {"name": name, "kind": "prediction" if name.startswith("prediction.") else
                                   "feature", "drifted": False, "scores": [], "exemplars": []})  # fmt: skip
    # closed windows never change: a feature's two figures are the same JSON until a window closes
    span = (model, version, windows[0]["end"], windows[-1]["end"], len(windows)) if windows else None
    history: dict[str, list[dict[str, Any]]] | None = None
    for f in features.values():
        ref = reference.get(f["name"])
        profile = None
        if ref is not None:
            profile = (tuple(ref.get("edges") or ref.get("categories") or ()), tuple(ref.get("counts") or ()))
        key = (span, f["name"], hist and hist.get("baseline"), profile)
        figures = _FIGURES.get(key) if span is not None else None
        if figures is None:
            if history is None:
                history = _history(windows)
            last = windows[-1].get("counts", {}).get(f["name"]) if windows else None
            label = f"last window ({windows[-1]['end']})" if windows else "current window"
            figures = (
                figure_json(drift_history_figure(f["name"], history.get(f["name"], []))),
                figure_json(histogram_figure(f["name"], ref, last, label)) if ref is not None else None,
            )
            if span is not None:
                _FIGURES.put(key, figures)
        f["history_figure"], f["histogram_figure"] = figures
        f["predictions"] = list((explained or {}).get(f["name"], {}).get("predictions", []))[:10]
    perf = [
        w for w in (performance or {}).get("windows", []) if w["version"] == version and not w.get("segment")
    ]
    qual = [v for v in (quality or {}).get("violations", []) if v["version"] == version]
    return {
        "model": model,
        "version": version,
        "versions": versions,
        "baseline": hist["baseline"] if hist else None,
        "features": sorted(
            features.values(), key=lambda f: (not f["drifted"], f["kind"] != "feature", f["name"])
        ),
        "windows": len(windows),
        "performance": perf,
        "performance_figure": performance_figure(perf) if perf else None,
        "quality": qual,
        "alerts": _timeline(
            windows, perf, [a for a in (quality or {}).get("alerts", []) if a["version"] == version]
        ),
    }


def _history(windows: Sequence[Doc]) -> dict[str, list[dict[str, Any]]]:
    """The alerting methods' scores of each feature over the windows (each with its window's end)."""
    history: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        for s in w["scores"]:
            if s.get("alerting", True):
                history.setdefault(s["feature"], []).append({**s, "end": w["end"]})
    return history


def _timeline(windows: Sequence[Doc], perf: Sequence[Doc], quality: Sequence[Doc]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for w in windows:
        for s in w["scores"]:
            if s.get("alert") and s.get("alerting", True):
                out.append({
                    "time": w["end"], "kind": "drift", "feature": s["feature"],
                    "text": f"{s['method']} {s['score']:.4g} crossed threshold {s['threshold']:g}",
                    "trace_ids": [e["trace_id"] for e in s.get("exemplars", [])][:3],
                })  # fmt: skip
    for w in perf:
        for name in w.get("alerts") or []:
            kind, _, metric = name.partition(":")
            value = (w.get(kind) or {}).get(metric)
            out.append({
                "time": w.get("end") or w.get("start") or "", "kind": "performance", "feature": metric,
                "text": f"{kind} {metric} = {value:.4g} dropped below the reference" if value is not None
                else f"{kind} {metric} dropped below the reference", "trace_ids": w.get("trace_ids", [])[:3],
            })  # fmt: skip
    for a in quality:
        out.append({
            "time": _iso(a["time_unix_nano"]), "kind": "quality", "feature": a["feature"],
            "text": a["message"],
            "trace_ids": [a["trace_id"]] if a.get("trace_id") else [],
        })  # fmt: skip
    return sorted(out, key=lambda a: a["time"], reverse=True)


def prediction_view(doc: Doc, drifted_in_window: set[str] | None = None) -> dict[str, Any]:
    """The prediction page: the spans of its traces in time order as a waterfall, and for the otelml spans
    the features, outputs, decision and label; features out of the baseline on this span (`ml.drift.features`)
    or drifted in the model's last window are marked."""
    spans = sorted(doc.get("spans", []), key=lambda s: int(s["start_time_unix_nano"]))
    drifted_in_window = drifted_in_window or set()
    rows, highlight = [], set()
    t0 = int(spans[0]["start_time_unix_nano"]) if spans else 0
    for s in spans:
        attrs = s.get("attributes") or {}
        out_of_baseline = {str(x) for x in attrs.get("ml.drift.features") or []}
        features = []
        for key, value in attrs.items():
            if key.startswith("ml.feature.") and key not in ("ml.feature.names",):
                name = key[len("ml.feature.") :]
                features.append({
                    "name": name, "value": value, "out_of_baseline": name in out_of_baseline,
                    "drifted": name in drifted_in_window or name in out_of_baseline,
                })  # fmt: skip
        if any(f["drifted"] for f in features):
            highlight.add(s.get("span_id"))
        outputs = {k: v for k, v in attrs.items() if k in ("ml.prediction.value", "ml.prediction.score")}
        rows.append({
            "span": s, "start_ms": (int(s["start_time_unix_nano"]) - t0) / 1e6,
            "duration_ms": (int(s["end_time_unix_nano"]) - int(s["start_time_unix_nano"])) / 1e6,
            "operation": attrs.get("ml.operation.name"), "features": features, "outputs": outputs,
            "decision": attrs.get("ml.decision"),
            "other": {k: v for k, v in attrs.items() if not k.startswith(("ml.feature.", "ml.prediction.",
                                                                        "ml.drift.features", "ml.decision"))},
        })  # fmt: skip
    decision = next((r["decision"] for r in rows if r["decision"] is not None), None)
    outputs = next((r["outputs"] for r in rows if r["outputs"]), {})
    return {
        "prediction_id": doc.get("prediction_id"),
        "model": doc.get("model"),
        "version": doc.get("version"),
        "time": doc.get("time"),
        "trace_ids": doc.get("trace_ids") or ([doc["trace_id"]] if doc.get("trace_id") else []),
        "label": doc.get("label"),
        "decision": decision,
        "outputs": outputs,
        "services": sorted({str(s.get("service") or "?") for s in spans}),
        "spans": rows,
        "waterfall_figure": waterfall_figure(spans, highlight),
        "drifted": sorted({f["name"] for r in rows for f in r["features"] if f["drifted"]}),
    }
