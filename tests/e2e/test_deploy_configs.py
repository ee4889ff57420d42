"""The deployment files a user starts from: they must load, and agree with each other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.certs import make_pki

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config", ["collector/otelcol/sidecar.yaml", "collector/config.example.yaml"])
def test_sidecar_configs_validate(config: str, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)  # the compose sidecar serves TLS with a bearer token (docs/security.md)
    env = {
        **os.environ,
        "OTELML_TOKEN": "deploy-config-test-token",
        "OTELML_TLS_CERT_FILE": str(pki.server_cert),
        "OTELML_TLS_KEY_FILE": str(pki.server_key),
    }
    run = subprocess.run(
        [sys.executable, "-m", "otelml_collector", "--config", config, "--validate"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "ml_extract" in run.stdout and "drift" in run.stdout


def test_docker_compose_file_is_valid_and_wires_the_stack() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (.ci/run installs Debian's docker-compose)")
    env = {**os.environ, "OTELML_TOKEN": "compose-config-test-token"}  # the stack requires a token
    run = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    expected = ("gateway", "model-service", "otel-gateway", "otelml-sidecar-1", "otelml-sidecar-2", "jaeger")
    for name in expected:
        assert name in services, name
    for service in services.values():  # every mounted config file exists in the repository
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith(("/", ".")) and "otelcol" in source:
                assert Path(source if source.startswith("/") else ROOT / source).exists(), source

    gateway = yaml.safe_load((ROOT / "collector/otelcol/gateway.yaml").read_text())
    lb = gateway["exporters"]["loadbalancing/sidecars"]
    assert lb["routing_attributes"] == ["ml.model.name"]  # one model's state lives in one sidecar
    hosts = {h.split(":")[0] for h in lb["resolver"]["static"]["hostnames"]}
    assert hosts == {"otelml-sidecar-1", "otelml-sidecar-2"}


def test_sidecar_image_builds_the_c_accelerator_and_checks_it() -> None:
    """No Docker engine here: the Dockerfile's build inputs are checked instead, and the image build
    itself fails when the extension did not compile (the import check)."""
    text = (ROOT / "collector/Dockerfile").read_text()
    copied = {word for line in text.splitlines() if line.startswith("COPY ") for word in line.split()[1:-1]}
    assert {"setup.py", "collector"} <= copied  # setup.py declares the extension
    assert "gcc" in text and "import otelml_collector.otlp._fastscan" in text
    declared = (ROOT / "setup.py").read_text()
    assert "collector/otelml_collector/otlp/_fastscan.c" in declared
    assert (ROOT / "collector/otelml_collector/otlp/_fastscan.c").exists()
