"""The issue's "done when", as a new user would do it: the sidecar runs the example config
(`collector/config.example.yaml`, ports and downstream from the environment), a scikit-learn model
instrumented by otelml sends its spans to it with the OTel SDK's gRPC exporter, and every span
arrives in Arize Phoenix intact. The reference is the same spans captured in memory by the sending
process; malformed traffic in between does not disturb anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.linear_model import LogisticRegression

import otelml
from otelml.instrumentation.sklearn import SklearnInstrumentor
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def as_json(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def test_example_config_forwards_instrumented_model_spans_to_phoenix(phoenix, tmp_path):
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "collector"), str(REPO)]),
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{phoenix.grpc_endpoint}",  # http:// = plaintext gRPC
        OTELML_COLLECTOR_GRPC_ENDPOINT=f"127.0.0.1:{grpc_port}",
        OTELML_COLLECTOR_HTTP_ENDPOINT=f"127.0.0.1:{http_port}",
        OTELML_COLLECTOR_API_ENDPOINT=f"127.0.0.1:{api_port}",
        OTELML_COLLECTOR_STATE_PATH=str(tmp_path / "state"),
    )
    log_path = tmp_path / "sidecar.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otelml_collector",
                "--config",
                str(REPO / "collector" / "config.example.yaml"),
            ],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    project = f"example-{uuid.uuid4().hex[:8]}"
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "credit-api", "openinference.project.name": project})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
    )
    instrumentor = SklearnInstrumentor()
    try:
        wait_until(lambda: _healthy(api_port), timeout=60, what=f"sidecar healthy\n{log_path.read_text()}")
        rng = np.random.default_rng(3)
        X = rng.normal(size=(200, 4))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        model = otelml.register_model(LogisticRegression().fit(X, y), name="credit", version="7")
        instrumentor.instrument(tracer_provider=provider)
        tracer = provider.get_tracer("credit-api")
        predictions = []
        for i in range(25):
            with tracer.start_as_current_span("POST /score"):
                predictions.append(model.predict_proba(X[i : i + 1])[0, 1])
            if i == 10:  # malformed traffic in the middle changes nothing
                bad = requests.post(
                    f"http://127.0.0.1:{http_port}/v1/traces",
                    data=b"\x00garbage",
                    headers={"Content-Type": "application/x-protobuf"},
                    timeout=10,
                )
                assert bad.status_code == 400
        instrumentor.uninstrument()
        np.testing.assert_allclose(predictions, LogisticRegression().fit(X, y).predict_proba(X[:25])[:, 1])
        assert provider.force_flush(10_000)
        sent = memory.get_finished_spans()
        assert len(sent) == 50 and sum(s.name == "inference credit" for s in sent) == 25

        stored = wait_until(
            lambda: (got := phoenix.spans(project)) and len(got) >= len(sent) and got,
            timeout=40,
            what=f"{len(sent)} spans in Phoenix",
        )
        by_id = {s["context"]["span_id"]: s for s in stored}
        assert len(stored) == len(sent)
        for span in sent:
            got = by_id[format(span.context.span_id, "016x")]
            assert got["name"] == span.name
            assert got["context"]["trace_id"] == format(span.context.trace_id, "032x")
            assert got["parent_id"] == (format(span.parent.span_id, "016x") if span.parent else None)
            attrs = dict(got["attributes"])
            for key, value in span.attributes.items():
                assert attrs.pop(key) == pytest.approx(as_json(value)), key
            assert not [k for k in attrs if k.startswith("ml.")]

        status = requests.get(f"http://127.0.0.1:{api_port}/v1/status", timeout=5).json()
        assert status["pipelines"]["traces"]["processors"] == ["ml_extract", "drift"]
        assert status["pipelines"]["traces"]["processor_errors"] == {}
        assert status["counters"]["spans"]["forwarded"] == 50
        assert status["counters"]["spans"]["refused_requests"]["invalid_body"] == 1
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                assert proc.wait(30) == 0, log_path.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
