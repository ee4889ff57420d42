"""Run the real sidecar as a subprocess (`python -m otelml_collector --config FILE`)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


def sidecar_config(
    tmp_path: Path,
    downstream: str | None = None,
    protocol: str = "http/protobuf",
    processors: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A config dict on free ports: receivers grpc+http, exporter `otlp` to `downstream`, HTTP API.

    `overrides` are merged into the top-level sections (shallow per section), e.g.
    `exporters={"otlp": {...}}` replaces the exporter block.
    """
    config: dict[str, Any] = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{free_port()}"},
                    "http": {"endpoint": f"127.0.0.1:{free_port()}"},
                }
            }
        },
        "processors": processors or {},
        "exporters": {
            "otlp": {
                "protocol": protocol,
                **({"endpoint": downstream} if downstream else {}),
                **({"tls": {"insecure": True}} if protocol == "grpc" else {}),
            }
        },
        "service": {
            "http": {"endpoint": f"127.0.0.1:{free_port()}"},
            "shutdown_timeout": "5s",
            "telemetry": {"metrics": {"interval": "1s"}},
        },
        "state": {"path": str(tmp_path / "state")},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


class SidecarProcess:
    """The sidecar as a child process; `start()` waits for /healthz, `stop()` sends SIGTERM."""

    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path,
        env: dict[str, str] | None = None,
        *,
        token: str | None = None,
        cacert: str | os.PathLike[str] | None = None,
    ) -> None:
        """`token`: sent as a bearer token on API calls; `cacert`: the API serves TLS signed by it."""
        self.config = config
        self.token = token
        self.ssl_context = ssl.create_default_context(cafile=str(cacert)) if cacert else None
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"sidecar-{id(self)}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.workdir / f"sidecar-{id(self)}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.env.update(env or {})
        self.env["PYTHONPATH"] = os.pathsep.join([str(REPO / "collector"), str(REPO)])
        self.proc: subprocess.Popen[bytes] | None = None
        protocols = config["receivers"]["otlp"]["protocols"]
        self.grpc_endpoint = protocols.get("grpc", {}).get("endpoint")
        self.http_endpoint = protocols.get("http", {}).get("endpoint")
        self.api = ("https://" if cacert else "http://") + config["service"]["http"]["endpoint"]

    @property
    def http_url(self) -> str:
        return f"http://{self.http_endpoint}"

    def start(self, timeout: float = 30.0) -> SidecarProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "otelml_collector", "--config", str(self.config_path)],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sidecar exited with {self.proc.returncode} during startup:\n{self.log()}"
                )
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"sidecar not healthy after {timeout}s:\n{self.log()}")

    def get(self, path: str) -> tuple[int, Any]:
        """GET on the sidecar's HTTP API: (status, parsed JSON or text)."""
        request = urllib.request.Request(self.api + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.ssl_context) as resp:
                status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        return status, json.loads(body) if "json" in ctype else body.decode()

    def status(self) -> dict[str, Any]:
        return self.get("/v1/status")[1]

    def counters(self) -> dict[str, Any]:
        return self.status()["counters"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code (kills and raises if it does not exit in time)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"sidecar did not exit within {timeout}s of SIGTERM:\n{self.log()}"
                ) from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> SidecarProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()
