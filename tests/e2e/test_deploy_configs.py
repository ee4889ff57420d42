"""The deployment files a user starts from: they must load, and agree with each other."""

from __future__ import annotations

import json
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


def test_compose_runs_grafana_and_tempo_with_the_provisioned_dashboards() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (.ci/run installs Debian's docker-compose)")
    env = {**os.environ, "OTELML_TOKEN": "compose-config-test-token"}
    run = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert {"grafana", "tempo", "jaeger", "prometheus"} <= set(services)
    mounts = {}
    for volume in services["grafana"]["volumes"]:  # "src:dst:ro" (compose v1) or {source, target}
        if isinstance(volume, dict):
            mounts[volume["target"]] = Path(volume["source"])
        else:
            source, target = volume.split(":")[:2]
            mounts[target] = Path(source)
    provisioning = mounts["/etc/grafana/provisioning"]
    dashboards = mounts["/var/lib/grafana/dashboards/otelml"]
    assert provisioning == ROOT / "collector/grafana/provisioning"
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["model-overview.json"]

    provider = yaml.safe_load((provisioning / "dashboards/otelml.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/otelml"
    sources = yaml.safe_load((provisioning / "datasources/otelml.yaml").read_text())["datasources"]
    by_uid = {s["uid"]: s for s in sources}
    assert {s["type"] for s in sources} == {"prometheus", "tempo", "jaeger"}
    links = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {d["name"] for d in links} == {"trace_id"}  # the exemplar label the sidecar writes
    assert any(d.get("datasourceUid") == "tempo" for d in links)
    assert any("/trace/${__value.raw}" in d.get("url", "") for d in links)  # Jaeger
    assert any("/v1/traces/${__value.raw}" in d.get("url", "") for d in links)  # the sidecar
    used = set()
    board = json.loads((dashboards / "model-overview.json").read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            used.add(target["datasource"]["uid"])
    assert used <= set(by_uid), used

    tempo_config = yaml.safe_load((ROOT / "collector/grafana/tempo.yaml").read_text())
    assert tempo_config["server"]["http_listen_port"] == 3200
    backend = yaml.safe_load((ROOT / "collector/otelcol/backend.yaml").read_text())
    assert "otlp/tempo" in backend["service"]["pipelines"]["traces"]["exporters"]


def test_dashboard_json_is_what_the_code_generates() -> None:
    run = subprocess.run(
        [sys.executable, "collector/grafana/dashboards.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_prometheus_config_scrapes_the_sidecars() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed: `apt-get install prometheus` (.ci/run does this)")
    config = ROOT / "collector/otelcol/prometheus.yaml"
    # --syntax-only: the token file is written by the compose service at start
    run = subprocess.run([promtool, "check", "config", "--syntax-only", str(config)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(config.read_text())["scrape_configs"]}
    targets = jobs["otelml-sidecar"]["static_configs"][0]["targets"]
    assert targets == ["otelml-sidecar-1:8890", "otelml-sidecar-2:8890"]  # the dashboards' default job
    sidecar_job = jobs["otelml-sidecar"]
    assert sidecar_job["scheme"] == "https"  # service.http takes TLS and the token in the compose stack
    assert sidecar_job["authorization"]["credentials_file"]
