"""Shared pieces of the triage tests: the sidecar config, running the scoring client, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.sidecar import sidecar_config

REPO = Path(__file__).resolve().parents[3]
CLIENT = Path(__file__).with_name("client.py")
WARMUP = 300


def triage_config(tmp_path: Path, downstream: str | None = None, **canary: Any) -> dict[str, Any]:
    processors = {
        "ml_extract": {},
        # windows of 300 (not the default 1,000) are noisier: 0.25 keeps unchanged features quiet
        "drift": {"baseline": {"warmup": WARMUP}, "window": {"size": WARMUP},
                  "thresholds": {"wasserstein": 0.25, "js": 0.25}},
        "predictions": {},
        "performance": {"window": {"size": 150}, "baseline": {"warmup": WARMUP},
                        "thresholds": {"accuracy": 0.1}, "evaluate_interval": 0},
        "diagnose": {"min_samples": 30, "learn_interval": 0.2},
        "canary": {"min_samples": 200, "min_labels": 100, "evaluate_interval": 0.5, **canary},
    }
    config = sidecar_config(tmp_path, downstream=downstream, processors=processors)
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlp"]},
        "logs": {"receivers": ["otlp"], "exporters": ["otlp"]},
    }
    return config


def run_client(sidecar_http: str, phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the client (a separate process with its own OTel SDK) and return one dict per call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    env.update(
        OTEL_SERVICE_NAME="scoring",
        OTEL_EXPORTER_OTLP_ENDPOINT=sidecar_http,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_BSP_MAX_QUEUE_SIZE="65536",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run([sys.executable, str(CLIENT), json.dumps(phases)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "otelml.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)
