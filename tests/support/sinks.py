"""Third-party OTLP receivers used as the sidecar's downstream in tests.

- `OtlpSink`: the `oteltap` package's embeddable OTLP http/protobuf receiver (traces, metrics,
  logs), run on its own event loop thread; received spans/log records/metrics are collected as
  protobuf messages. `stop()` and `start()` again on the same port simulate a downstream outage.
- `Phoenix`: Arize Phoenix (`phoenix serve`, OTLP traces over gRPC and HTTP) as a subprocess;
  spans are read back through its REST API. The binary comes from $OTELML_PHOENIX (CI builds it
  with `make phoenix`); tests that need it fail loudly when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.net import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


class OtlpSink:
    """oteltap receiver on 127.0.0.1:`port` (http/protobuf)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.spans: list[Any] = []
        self.logs: list[Any] = []
        self.metrics: list[Any] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._receiver: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpSink:
        from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="oteltap-sink", daemon=True)
        self._thread.start()

        async def start() -> None:
            self._receiver = OtelTapHttpProtobufReceiver(
                OtelTapHttpProtobufReceiverSettings(http_port=self.port)
            )
            await self._receiver.start()
            for stream, target in (
                (self._receiver.stream_traces, self.spans),
                (self._receiver.stream_logs, self.logs),
                (self._receiver.stream_metrics, self.metrics),
            ):
                self._tasks.append(asyncio.ensure_future(self._collect(stream(), target)))
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(20)
        return self

    async def _collect(self, stream: Any, target: list[Any]) -> None:
        async for message in stream:
            with self._lock:
                target.append(message)

    def stop(self) -> None:
        if self._loop is None:
            return

        async def stop() -> None:
            await self._receiver.stop()
            for task in self._tasks:
                task.cancel()
            self._tasks.clear()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(20)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    def span_names(self) -> list[str]:
        with self._lock:
            return [s.name for s in self.spans]

    def wait_spans(self, n: int, timeout: float = 15.0) -> list[Any]:
        wait_until(
            lambda: len(self.spans) >= n, timeout, what=f"{n} spans at the sink (have {len(self.spans)})"
        )
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def phoenix_binary() -> str:
    """Path of the `phoenix` executable: $OTELML_PHOENIX, .venv-phoenix (make phoenix), or PATH."""
    candidates = [
        os.environ.get("OTELML_PHOENIX"),
        str(REPO / ".venv-phoenix" / "bin" / "phoenix"),
        shutil.which("phoenix"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "Arize Phoenix not found: set OTELML_PHOENIX to its `phoenix` binary or run `make phoenix` "
        "(the forwarding tests need a real third-party OTLP receiver)"
    )


class Phoenix:
    """`phoenix serve` on free ports with a throw-away working dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "phoenix.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 150.0) -> Phoenix:
        return self.launch().wait_healthy(timeout)

    def launch(self) -> Phoenix:
        """Start the process without waiting for it (see `wait_healthy`)."""
        binary = phoenix_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PHOENIX_"))}
        env.update(
            PHOENIX_WORKING_DIR=str(self.workdir),
            PHOENIX_PORT=str(self.http_port),
            PHOENIX_GRPC_PORT=str(self.grpc_port),
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_TELEMETRY_ENABLED="false",
            DO_NOT_TRACK="1",
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, timeout: float = 150.0) -> Phoenix:
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"phoenix exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.http_url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"phoenix not healthy after {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span Phoenix stored for `project` (REST API, paginated)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            url = f"{self.http_url}/v1/projects/{project}/spans?limit=1000" + (
                f"&cursor={cursor}" if cursor else ""
            )
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    doc = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # project not created yet: nothing arrived
                    return out
                raise
            out.extend(doc.get("data", []))
            cursor = doc.get("next_cursor")
            if not cursor:
                return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
