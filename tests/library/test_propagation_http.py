"""Two real processes talking HTTP, both exporting real OTLP to a real receiver: one trace, one id."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

SERVICES = Path(__file__).parent / "services"
pytestmark = pytest.mark.e2e
SERVER, CLIENT = 2, 3  # OTLP SpanKind values


def _start(script: str, env: dict[str, str], *args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(SERVICES / script), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.strip().isdigit():
        proc.kill()
        raise AssertionError(f"{script} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line)


def _env(receiver: Any, service: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    env.update(
        OTEL_SERVICE_NAME=service,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="100",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


def _complete(spans: list[dict[str, Any]]) -> bool:
    """Every span the assertions need has arrived (each process exports in its own batches)."""
    names = {s["name"] for s in spans}
    kinds = {(s["service"], s["kind"]) for s in spans}
    return {"feature_lookup customer_features", "inference credit", "postprocess threshold"} <= names and {
        ("gateway", SERVER), ("gateway", CLIENT), ("scoring", SERVER)} <= kinds


@pytest.mark.parametrize("mode", ["manual", "auto"])
def test_prediction_chain_across_two_processes(otlp_receiver: Any, mode: str) -> None:
    """manual: the back service wraps the model with otelml.inference; auto: the scikit-learn
    instrumentor turned on by ``import otelml.auto`` makes the inference span."""
    receiver = otlp_receiver
    back_env = _env(receiver, "scoring")
    back_env["BACK_MODE"] = mode
    if mode == "manual":
        back_env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "sklearn"
    procs = []
    try:
        back, back_port = _start("back.py", back_env)
        procs.append(back)
        front_env = _env(receiver, "gateway")
        front_env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "sklearn"  # no model here; faster start
        front, front_port = _start("front.py", front_env, f"http://127.0.0.1:{back_port}")
        procs.append(front)
        answer = requests.get(f"http://127.0.0.1:{front_port}/decide/7", timeout=30).json()
        spans = receiver.wait_for(_complete)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)

    pid = answer["front_prediction_id"]
    assert pid and answer["prediction_id"] == pid  # the back service saw the front's id
    assert answer["decision"] in {"approve", "deny"}

    assert len({s["trace_id"] for s in spans}) == 1, "all spans of the request must share one trace"
    by_name = {s["name"]: s for s in spans}
    lookup = by_name["feature_lookup customer_features"]
    inference = by_name["inference credit"]
    post = by_name["postprocess threshold"]
    assert (lookup["service"], inference["service"], post["service"]) == ("gateway", "scoring", "scoring")
    for span in (lookup, inference, post):
        assert span["attributes"]["ml.prediction.id"] == pid
    assert inference["attributes"]["ml.model.name"] == "credit"
    assert inference["attributes"]["ml.model.version"] == "1"
    assert inference["attributes"]["ml.feature.income"] == 1.2
    assert inference["attributes"]["ml.feature.debt_ratio"] == -0.4
    assert post["attributes"]["ml.decision"] == answer["decision"]
    assert inference["attributes"]["ml.prediction.score"] == pytest.approx(answer["score"])

    # parentage: gateway server -> (feature_lookup, client call) -> scoring server -> (inference, postprocess)
    (front_server,) = [s for s in spans if s["service"] == "gateway" and s["kind"] == SERVER]
    (client,) = [s for s in spans if s["service"] == "gateway" and s["kind"] == CLIENT]
    (back_server,) = [s for s in spans if s["service"] == "scoring" and s["kind"] == SERVER]
    assert front_server["parent_id"] == ""
    assert lookup["parent_id"] == front_server["span_id"]
    assert client["parent_id"] == front_server["span_id"]
    assert back_server["parent_id"] == client["span_id"]
    assert inference["parent_id"] == back_server["span_id"]
    assert post["parent_id"] == back_server["span_id"]
