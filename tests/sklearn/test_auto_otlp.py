"""Done-when, as a user: ``import otelml.auto`` with OTEL_EXPORTER_OTLP_ENDPOINT set, train, predict; a
real OTLP/gRPC receiver gets one inference span per call whose attributes equal the real inputs and
outputs, and masked features never appear in the exported bytes (traces, metrics and logs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

APP = Path(__file__).parent / "apps" / "predict_app.py"
pytestmark = pytest.mark.e2e


def _run_app(mode: str, receiver: Any, **env: str) -> list[dict]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    environ.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_SERVICE_NAME": "predict-app",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        **env,
    })
    proc = subprocess.run([sys.executable, str(APP), mode], capture_output=True, text=True, env=environ,
                          timeout=90, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _expected_prediction(call: dict) -> tuple[object, object]:
    out = np.array(call["output"])
    if call["method"] == "predict_proba":
        best = out.argmax(axis=1)
        return best.tolist(), out[:, 1].tolist()
    return out.tolist(), None


def _scalar_or_list(values: list) -> object:
    return values[0] if len(values) == 1 else values


def test_one_inference_span_per_call_with_the_real_inputs_and_outputs(otlp_receiver: Any) -> None:
    receiver = otlp_receiver
    calls = _run_app("plain", receiver)
    spans = [s for s in receiver.spans() if s.name.startswith("inference ")]
    assert len(calls) == 3
    assert [s.name for s in spans] == ["inference LogisticRegression"] * 2 + ["inference LinearRegression"]
    for call, span in zip(calls, spans, strict=True):
        attrs = receiver.attributes(span)
        for name, column in call["features"].items():
            assert attrs.pop(f"ml.feature.{name}") == _scalar_or_list(column)
        value, score = _expected_prediction(call)
        assert attrs.pop("ml.prediction.value") == _scalar_or_list(value)
        if score is not None:
            assert attrs.pop("ml.prediction.score") == _scalar_or_list(score)
        rows = len(next(iter(call["features"].values())))
        if rows > 1:
            assert attrs.pop("ml.batch.size") == rows
        assert attrs.pop("ml.operation.name") == "inference"
        assert attrs.pop("ml.model.framework") == "sklearn"
        assert attrs.pop("ml.model.name") == span.name.split(" ", 1)[1]
        assert attrs.pop("ml.model.task") in ("classification", "regression")
        assert len(attrs.pop("ml.prediction.id")) == 32
        assert attrs == {}
    assert receiver.requests["metrics"], "the library metrics reached the receiver too"


def test_masked_features_never_appear_in_exported_bytes(otlp_receiver: Any) -> None:
    receiver = otlp_receiver
    calls = _run_app("private", receiver, OTELML_REDACT_FEATURES="ssn", OTELML_HASH_FEATURES="email",
                     OTELML_DROP_FEATURES="home_address", OTELML_HASH_SALT="pepper",
                     OTELML_LOG_PREDICTIONS="true")
    raw = receiver.all_bytes()
    assert receiver.requests["logs"], "prediction log records were exported and are checked too"
    assert b"SECRET-SSN" not in raw
    assert b"@example.com" not in raw
    assert b"Zebulon" not in raw and b"home_address" not in raw
    assert b"[REDACTED]" in raw
    spans = [s for s in receiver.spans() if s.name == "inference Pipeline"]
    assert len(spans) == len(calls) == 2
    single = receiver.attributes(spans[0])
    email = calls[0]["features"]["email"][0]
    assert single["ml.feature.email"] == "sha256:" + hashlib.sha256(f"pepper{email}".encode()).hexdigest()
    assert single["ml.feature.ssn"] == "[REDACTED]"
    assert single["ml.feature.income"] == calls[0]["features"]["income"][0]
    assert "ml.feature.home_address" not in single
    batch = receiver.attributes(spans[1])
    assert batch["ml.feature.ssn"] == ["[REDACTED]"] * 3
    assert batch["ml.feature.email"] == [
        "sha256:" + hashlib.sha256(f"pepper{e}".encode()).hexdigest() for e in calls[1]["features"]["email"]]


def test_opentelemetry_instrument_finds_the_sklearn_instrumentor(otlp_receiver: Any, tmp_path: Path) -> None:
    """The entry point works for the standard launcher too: ``opentelemetry-instrument python app.py``."""
    app = tmp_path / "app.py"
    app.write_text(
        "import numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X = np.arange(20.0).reshape(10, 2)\n"
        "model = LogisticRegression().fit(X, np.arange(10) % 2)\n"
        "print(model.predict(X[:1]).tolist())\n"
    )
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    environ.update({"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
                    "OTEL_EXPORTER_OTLP_INSECURE": "true",
                    "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    proc = subprocess.run([str(launcher), sys.executable, str(app)], capture_output=True, text=True,
                          env=environ, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = [s for s in otlp_receiver.spans() if s.name.startswith("inference ")]
    assert [s.name for s in spans] == ["inference LogisticRegression"]
    attrs = otlp_receiver.attributes(spans[0])
    assert [attrs["ml.feature.f0"], attrs["ml.feature.f1"]] == [0.0, 1.0]
    assert [attrs["ml.prediction.value"]] == json.loads(proc.stdout)
