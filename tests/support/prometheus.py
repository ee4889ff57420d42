"""A real Prometheus server (Debian's `prometheus`) as a subprocess, and its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port, wait_until


class Prometheus:
    """`Prometheus(tmp, targets).start()` scrapes `targets` (host:port) every `interval`, with exemplar
    storage on, until `stop()`."""

    def __init__(self, workdir: Path, targets: list[str], interval: str = "1s") -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("Prometheus not installed: `apt-get install prometheus` (.ci/run does this)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = self.workdir / "prometheus.yml"
        config.write_text(
            f"global: {{scrape_interval: {interval}, scrape_timeout: {interval}}}\n"
            "scrape_configs:\n  - job_name: otelml-sidecar\n"
            f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
        )
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--enable-feature=exemplar-storage"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "prometheus.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        wait_until(self._ready, timeout=60, interval=0.2, what="Prometheus ready")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, seconds: float, step: str = "1s") -> list[dict[str, Any]]:
        now = time.time()
        return self.api("query_range", query=expr, start=now - seconds, end=now, step=step)["result"]

    def exemplars(self, expr: str, seconds: float = 600) -> list[dict[str, Any]]:
        now = time.time()
        return self.api("query_exemplars", query=expr, start=now - seconds, end=now)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
