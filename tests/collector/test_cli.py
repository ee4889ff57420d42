"""`otelml-collector` / `python -m otelml_collector` as a user runs it: --help, --validate, exit codes,
the embedded default config, graceful shutdown on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc
from otelml_collector.cli import main

from tests.support import OtlpSink, SidecarProcess, free_port, sidecar_config, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(__file__).parent / "testdata"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO / "collector"), str(REPO)])
    return subprocess.run(
        [sys.executable, "-m", "otelml_collector", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
    )


def test_help_lists_options():
    result = run_cli("--help")  # once through `python -m otelml_collector`; the rest in-process
    assert result.returncode == 0
    for option in ("--config", "--validate", "--print-default-config", "--log-level"):
        assert option in result.stdout


def test_validate_ok_and_error_exit_codes(capsys):
    assert main(["--config", str(TESTDATA / "valid_full.yaml"), "--validate"]) == 0
    out = capsys.readouterr().out
    assert "pipeline traces: receivers=['otlp'] processors=['ml_extract']" in out
    assert "exporter otlp traces: http/protobuf -> https://traces.example/v1/traces" in out

    assert main(["--config", str(TESTDATA / "invalid_protocol.yaml"), "--validate"]) == 2
    bad = capsys.readouterr()
    assert f"{TESTDATA / 'invalid_protocol.yaml'}: exporters.otlp.protocol: must be one of" in bad.err
    assert bad.out == ""

    assert main(["--config", "/nonexistent/sidecar.yaml"]) == 2
    assert "/nonexistent/sidecar.yaml: cannot read the config file" in capsys.readouterr().err


def test_embedded_default_config_uses_otel_env(capsys, monkeypatch):
    assert main(["--print-default-config"]) == 0
    assert "receivers:" in capsys.readouterr().out
    for key in [k for k in os.environ if k.startswith(("OTEL_", "OTELML_COLLECTOR_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://backend:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert main(["--validate"]) == 0
    out = capsys.readouterr().out
    assert "exporter otlp logs: http/protobuf -> http://backend:4318/v1/logs" in out
    assert "processors=['ml_extract'" in out


def test_runs_without_config_and_forwards(tmp_path):
    """No --config: the embedded default, with ports and downstream from the environment."""
    sink = OtlpSink().start()
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "collector"), str(REPO)]),
        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTELML_COLLECTOR_GRPC_ENDPOINT=f"127.0.0.1:{grpc_port}",
        OTELML_COLLECTOR_HTTP_ENDPOINT=f"127.0.0.1:{http_port}",
        OTELML_COLLECTOR_API_ENDPOINT=f"127.0.0.1:{api_port}",
        OTELML_COLLECTOR_STATE_PATH=str(tmp_path / "state"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "otelml_collector"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _healthy(api_port), timeout=30, what="default-config sidecar healthy")
        assert _post(http_port, "no-config").status_code == 200
        sink.wait_spans(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert (tmp_path / "state" / "state.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        sink.stop()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _post(http_port: int, name: str, n: int = 2) -> requests.Response:
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        scope.spans.add(name=f"{name}-{i}", trace_id=b"\x09" * 16, span_id=(i + 1).to_bytes(8, "big"))
    return requests.post(
        f"http://127.0.0.1:{http_port}/v1/traces",
        data=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_queued_spans_and_exits_zero(signum, tmp_path, otlp_sink):
    config = sidecar_config(tmp_path, downstream=otlp_sink.endpoint, processors={"ml_extract": {}})
    sc = SidecarProcess(config, tmp_path / "sc").start()
    http_port = int(sc.http_endpoint.rsplit(":", 1)[1])
    for batch in range(20):
        assert _post(http_port, f"batch{batch}", n=25).status_code == 200
    assert sc.proc is not None
    sc.proc.send_signal(signum)  # immediately: whatever is still queued must be delivered
    assert sc.proc.wait(20) == 0
    assert len(otlp_sink.spans) == 500
    log = sc.log()
    assert "shutting down" in log and "'forwarded': 500" in log
    with pytest.raises(requests.RequestException):  # no longer receiving
        _post(http_port, "late")


def test_port_in_use_exits_1_naming_the_key(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = sidecar_config(tmp_path, downstream="http://127.0.0.1:9")
        config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = f"127.0.0.1:{port}"
        config["service"]["telemetry"] = {"metrics": {"enabled": False}}
        sc = SidecarProcess(config, tmp_path / "sc")
        with pytest.raises(RuntimeError, match="exited with 1"):
            sc.start(timeout=30)
        assert f"receivers.otlp.protocols.http.endpoint 127.0.0.1:{port}: cannot listen" in sc.log()
