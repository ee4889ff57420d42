"""Scripted incidents, one cause each, through a real sidecar: the scoring client (real scikit-learn,
the otelml library, the OTel SDK's OTLP exporter) serves a warm-up, then the incident; `otelml
diagnose` must name the layer, show the others ok, and give trace ids that `otelml trace` opens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.collector.triage.harness import WARMUP, cli, run_client, triage_config
from tests.support.net import wait_until

pytestmark = pytest.mark.e2e


def _diagnose(car: Any, model: str) -> tuple[int, dict[str, Any], str]:
    done = cli("diagnose", "--model", model, "--url", car.api, "--format", "json")
    doc = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.returncode, doc, done.stderr


def _wait_verdict(car: Any, model: str, verdict: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def ready() -> bool:
        status, doc = car.get(f"/v1/diagnose?model={model}")
        seen["doc"] = doc
        return status == 200 and doc["verdict"] == verdict

    try:
        wait_until(ready, 60, what=f"verdict {verdict} for {model}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer: {json.dumps(seen.get('doc'), indent=1)}") from None
    return seen["doc"]


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {layer: info["status"] for layer, info in doc["layers"].items()}


def _signals(doc: dict[str, Any], layer: str) -> dict[str, dict[str, Any]]:
    return {e["signal"]: e for e in doc["layers"][layer]["evidence"]}


def _opens(car: Any, trace_id: str) -> None:
    done = cli("trace", trace_id, "--url", car.api, "--json")
    assert done.returncode == 0, done.stderr
    assert any(s["name"] == "inference credit" for s in json.loads(done.stdout)["spans"])


WARM = {"n": WARMUP, "model": "credit", "version": "1", "seed": 1}


def test_a_healthy_model_is_none_and_exits_0(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    run_client(car.http_url, [WARM, {**WARM, "n": 120, "seed": 2}])
    wait_until(lambda: car.get("/v1/diagnose?model=credit")[1].get("references"), 30, what="a reference")
    code, doc, err = _diagnose(car, "credit")
    assert code == 0, (doc, err)
    assert doc["verdict"] == "none" and set(_statuses(doc).values()) == {"ok"}
    assert _diagnose(car, "nosuch")[0] == 2


def test_shifted_feature_is_data(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    rows = run_client(car.http_url, [WARM, {**WARM, "seed": 2, "shift": 2.0}])
    _wait_verdict(car, "credit", "data")
    code, doc, _ = _diagnose(car, "credit")
    assert code == 1 and doc["verdict"] == "data"
    assert _statuses(doc) == {"data": "degraded", "model": "ok", "system": "ok"}
    (drift,) = [e for e in doc["layers"]["data"]["evidence"]
                if e["signal"] == "feature_drift" and e["detail"]["feature"] == "x0"]
    assert drift["detail"]["score"] > drift["detail"]["threshold"]
    shifted = {r["trace_id"] for r in rows[WARMUP:]}
    assert drift["trace_ids"] and set(drift["trace_ids"]) <= shifted  # predictions of the shifted population
    _opens(car, drift["trace_ids"][0])


def test_wrong_predictions_with_unchanged_inputs_are_model(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    rows = run_client(car.http_url, [{**WARM, "labels": True},
                                     {**WARM, "seed": 2, "labels": True, "inverted": True}])
    doc = _wait_verdict(car, "credit", "model")
    code, doc, _ = _diagnose(car, "credit")
    assert code == 1 and _statuses(doc) == {"data": "ok", "model": "degraded", "system": "ok"}
    perf = _signals(doc, "model")["performance"]
    bad = rows[WARMUP:]
    windows = [np.mean([r["value"] == r["truth"] for r in bad[i : i + 150]]) for i in (0, 150)]
    assert perf["detail"]["metric"] == "accuracy" and perf["detail"]["kind"] == "realized"
    assert perf["detail"]["value"] == pytest.approx(windows[1])  # the newest window, as sklearn would
    assert perf["detail"]["value"] < perf["detail"]["reference"] - 0.1
    wrong = {r["trace_id"] for r in bad if r["value"] != r["truth"]}
    assert perf["trace_ids"] and set(perf["trace_ids"]) <= wrong
    _opens(car, perf["trace_ids"][0])


def test_failing_and_slow_inference_is_system(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    rows = run_client(car.http_url, [WARM, {**WARM, "n": 120, "seed": 2, "fail": 0.3, "sleep_ms": 25}])
    _wait_verdict(car, "credit", "system")
    code, doc, _ = _diagnose(car, "credit")
    assert code == 1 and _statuses(doc) == {"data": "ok", "model": "ok", "system": "degraded"}
    signals = _signals(doc, "system")
    assert {"inference_latency", "inference_errors", "server_errors"} <= set(signals)
    incident = rows[WARMUP:]
    failed = {r["trace_id"] for r in incident if r["error"]}
    errors = signals["inference_errors"]
    assert errors["detail"]["bad"] == len(failed) and errors["detail"]["n"] == len(incident)
    assert set(errors["trace_ids"]) <= failed and set(signals["server_errors"]["trace_ids"]) <= failed
    warm_ok = [r["seconds"] for r in rows[:WARMUP] if not r["error"]]
    latency = signals["inference_latency"]["detail"]
    assert latency["reference_p95_s"] < np.percentile(warm_ok, 95) * 1.5  # span time <= client-side time
    assert latency["p95_s"] >= 0.025
    _opens(car, errors["trace_ids"][0])
