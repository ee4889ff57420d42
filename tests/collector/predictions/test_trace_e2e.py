"""Two real instrumented services (Flask gateway -> FastAPI scoring with scikit-learn) export OTLP to a
real sidecar subprocess (ml_extract + predictions) that forwards to a real OTLP sink; one prediction's
whole chain comes back from the API and from `otelml trace`, with its label recorded later, and after
a restart of the sidecar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sklearn.metrics import accuracy_score, brier_score_loss

from tests.support.net import free_port, wait_until
from tests.support.sidecar import sidecar_config

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[3]
SERVICES = REPO / "tests" / "library" / "services"
CHAIN = {
    ("gateway", "server"),
    ("gateway", "client"),
    ("gateway", "internal"),
    ("scoring", "server"),
    ("scoring", "internal"),
}


def _start(script: str, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVICES / script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.strip().isdigit():
        proc.kill()
        raise AssertionError(f"{script} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(line)


def _env(endpoint: str, service: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    env.update(
        OTEL_SERVICE_NAME=service,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{endpoint}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sklearn",
        PYTHONPATH=str(REPO),
    )
    return env


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "otelml.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def _complete(doc: dict[str, Any] | None) -> bool:
    if not doc or doc.get("label") is None:
        return False
    names = {s["name"] for s in doc["spans"]}
    kinds = {(s["service"], s["kind"]) for s in doc["spans"]}
    return (
        kinds >= CHAIN
        and {"feature_lookup customer_features", "inference credit", "postprocess threshold", "label credit"}
        <= names
    )


def test_one_prediction_end_to_end(sidecar: Any, otlp_sink: Any, tmp_path: Path) -> None:
    performance = {"window": {"size": 2}, "baseline": {"warmup": 0}}
    processors = {"ml_extract": {}, "predictions": {}, "performance": performance}
    config = sidecar_config(tmp_path, downstream=otlp_sink.endpoint, processors=processors)
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlp"]}
    }
    car = sidecar(config)
    grpc_endpoint = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    procs = []
    try:
        back, back_port = _start("back.py", _env(grpc_endpoint, "scoring"))
        procs.append(back)
        front, front_port = _start(
            "front.py", _env(grpc_endpoint, "gateway"), f"http://127.0.0.1:{back_port}"
        )
        procs.append(front)
        answer = requests.get(f"http://127.0.0.1:{front_port}/decide/7", timeout=30).json()
        other = requests.get(f"http://127.0.0.1:{front_port}/decide/7", timeout=30).json()
        pid = answer["prediction_id"]
        time.sleep(0.5)  # the label comes later, in its own request and trace
        requests.post(f"http://127.0.0.1:{back_port}/label/{pid}", params={"value": 1}, timeout=30)
        docs: dict[str, Any] = {}

        def fetch() -> bool:
            status, doc = car.get(f"/v1/predictions/{pid}")
            docs["doc"] = doc if status == 200 else None
            return _complete(docs["doc"])

        wait_until(fetch, 30, what=f"prediction {pid} complete in the store")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)

    # the services flush their last spans when they stop: wait until the stored prediction is stable
    def stable() -> bool:
        before = docs["doc"]
        time.sleep(0.5)
        fetch()
        return docs["doc"] == before

    wait_until(stable, 30, what=f"prediction {pid} stable in the store")
    doc = docs["doc"]
    assert (doc["prediction_id"], doc["model"], doc["version"]) == (pid, "credit", "1")
    assert doc["label"]["value"] == 1 and doc["label"]["delay_s"] > 0.4
    spans = doc["spans"]
    by_name = {s["name"]: s for s in spans}
    inference = by_name["inference credit"]
    assert inference["attributes"]["ml.feature.income"] == 1.2
    assert inference["attributes"]["ml.prediction.score"] == pytest.approx(answer["score"])
    assert by_name["postprocess threshold"]["attributes"]["ml.decision"] == answer["decision"]
    assert by_name["feature_lookup customer_features"]["service"] == "gateway"
    # one trace for the request, one for the label; the other request's spans are not mixed in
    assert len(doc["trace_ids"]) == 2 and len({s["trace_id"] for s in spans}) == 2
    assert other["prediction_id"] not in {s["attributes"].get("ml.prediction.id") for s in spans}
    request_trace = inference["trace_id"]
    assert [s["start_time_unix_nano"] for s in spans] == sorted(s["start_time_unix_nano"] for s in spans)
    # the HTTP server span of the gateway (no prediction id on it) is the root of the request's tree
    (root,) = [s for s in spans if s["trace_id"] == request_trace and s["parent_span_id"] is None]
    assert (root["service"], root["kind"]) == ("gateway", "server")

    status, trace_doc = car.get(f"/v1/traces/{request_trace}")
    assert status == 200 and trace_doc["prediction_ids"] == [pid]
    assert len(trace_doc["spans"]) == len([s for s in spans if s["trace_id"] == request_trace])

    # the same spans were forwarded downstream
    forwarded = {s.span_id.hex() for s in otlp_sink.wait_spans(len(spans))}
    assert {s["span_id"] for s in spans} <= forwarded

    # the CLI: tree across both services, and the API's document with --json
    out = _cli("trace", pid, "--url", car.api)
    assert out.returncode == 0, out.stderr
    for text in (
        "[gateway] GET /decide/",
        "[scoring] POST /score",
        "inference credit",
        "postprocess threshold",
        "ml.feature.income = 1.2",
        f"ml.decision = {answer['decision']}",
        "label 1 at",
    ):
        assert text in out.stdout, out.stdout
    assert json.loads(_cli("trace", pid, "--json", "--url", car.api).stdout) == doc
    by_trace = _cli("trace", request_trace, "--url", car.api)
    assert by_trace.returncode == 0 and "inference credit" in by_trace.stdout
    missing = _cli("trace", "0" * 32, "--url", car.api)
    assert missing.returncode == 1 and "no such prediction or trace" in missing.stderr
    unreachable = _cli("trace", pid, "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2 and "cannot reach the otelml sidecar" in unreachable.stderr
    found = _cli(
        "predictions",
        "--model",
        "credit",
        "--feature",
        "income",
        "--min",
        "1",
        "--max",
        "1.5",
        "--url",
        car.api,
        "--json",
    )
    assert found.returncode == 0
    assert pid in {p["prediction_id"] for p in json.loads(found.stdout)["predictions"]}
    none = _cli("predictions", "--feature", "income", "--min", "5", "--url", car.api)
    assert none.returncode == 1

    # the performance processor joined the same label: a window of the two predictions, one labelled
    perf = _cli("performance", "--model", "credit", "--format", "json", "--url", car.api)
    assert perf.returncode == 0, perf.stderr
    (window,) = json.loads(perf.stdout)["windows"]
    assert (window["n"], window["n_labeled"], window["coverage"]) == (2, 1, 0.5)
    predicted = 1 if answer["score"] >= 0.5 else 0
    assert window["realized"]["accuracy"] == accuracy_score([1], [predicted])
    assert window["realized"]["brier"] == pytest.approx(brier_score_loss([1], [answer["score"]]))
    table = _cli("performance", "--url", car.api)
    assert table.returncode == 0 and "credit" in table.stdout and "50%" in table.stdout

    # a restart keeps the store
    assert car.stop() == 0
    car.start()
    status, again = car.get(f"/v1/predictions/{pid}")
    assert status == 200 and again == doc
    assert car.get("/v1/performance?model=credit")[1]["windows"] == [window]


def test_api_errors(sidecar: Any, tmp_path: Path) -> None:
    config = sidecar_config(tmp_path, processors={"predictions": {}})
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": ["predictions"], "exporters": ["otlp"]}
    }
    car = sidecar(config)
    status, body = car.get("/v1/predictions/" + "ab" * 16)
    assert status == 404 and "not in the store" in body["error"]
    status, body = car.get("/v1/traces/" + "cd" * 16)
    assert status == 404 and "error" in body
    assert car.get("/v1/traces/xyz")[0] == 400
    for query, name in (
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("min=1", "min/max"),
        ("feature=a&min=x", "min"),
        ("colour=red", "colour"),
    ):
        status, body = car.get(f"/v1/predictions?{query}")
        assert status == 400 and body["error"].startswith(name), (query, body)
    bad = _cli("predictions", "--since", "yesterday", "--url", car.api)
    assert bad.returncode == 2 and "since" in bad.stderr
