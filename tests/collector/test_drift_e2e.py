"""Issue 4 "Done when", as a new user would see it.

A real sidecar subprocess (`python -m otelml_collector`) with a warm-up baseline receives real OTLP
spans from the OTel SDK's gRPC exporter; it forwards everything, its metrics and its alert logs over
OTLP http/protobuf to a third-party receiver (`oteltap`). After the warm-up, one of 20 features shifts
by one standard deviation; half-way through the window the sidecar is stopped (SIGTERM) and started
again on the same state directory. When the window closes the shifted feature — and only it — is
flagged; its `ml.feature.drift` points carry exemplars of shifted predictions from both halves; a WARN
alert log record carrying such a trace id reaches the receiver; forwarded spans with out-of-range
values carry `ml.drift.features`; `otelml drift` prints it with trace links.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MODEL, VERSION = "credit", "7"
N_FEATURES = 20
SHIFTED = "f7"
WARMUP, WINDOW = 2000, 3000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}
    except OSError:
        return 0, {}


class Sidecar:
    def __init__(self, tmp: Path, tap_port: int) -> None:
        self.grpc, self.http, self.api = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.api}"
        self.config = tmp / "sidecar.yaml"
        self.config.write_text(
            f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{self.grpc}"}}
      http: {{endpoint: "127.0.0.1:{self.http}"}}
processors:
  ml_extract: {{}}
  drift:
    baseline: {{warmup: {WARMUP}}}
    window: {{size: {WINDOW}, seconds: 0}}
    checkpoint_seconds: 30
exporters:
  otlp:
    endpoint: "http://127.0.0.1:{tap_port}"
    protocol: http/protobuf
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [ml_extract, drift], exporters: [otlp]}}
  http: {{endpoint: "127.0.0.1:{self.api}"}}
  trace_url_template: "http://localhost:16686/trace/{{trace_id}}"
  telemetry: {{metrics: {{interval: 600}}}}
state:
  path: "{tmp / "state"}"
"""
        )
        self.log = tmp / "sidecar.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'collector'}"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "otelml_collector", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sidecar exited {self.proc.returncode}:\n{self.log.read_text()}")
            if get_json(self.url + "/healthz")[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"sidecar not healthy in 30 s:\n{self.log.read_text()}")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def drift(self) -> dict:
        return get_json(self.url + "/v1/drift?model=" + MODEL)[1]

    def wait_for(self, predicate, what: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.drift()
            if answer and predicate(answer):
                return answer
            time.sleep(0.1)
        raise AssertionError(
            f"timed out waiting for {what}; last answer {self.drift()}\n{self.log.read_text()}"
        )


class Client:
    """An instrumented service: one `inference credit` span per prediction, OTLP/gRPC to the sidecar."""

    def __init__(self, port: int, seed: int = 0) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "credit-api"}))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True),
                max_queue_size=20_000,
                max_export_batch_size=512,
                schedule_delay_millis=100,
            )
        )
        self.tracer = self.provider.get_tracer("credit-api")
        self.rng = np.random.default_rng(seed)

    def predict(self, n: int, shift: float) -> dict[bytes, float]:
        """n predictions; returns trace id -> value of the shifted feature."""
        out = {}
        for _ in range(n):
            x = self.rng.normal(0.0, 1.0, N_FEATURES)
            x[int(SHIFTED[1:])] += shift
            attrs = {
                "ml.operation.name": "inference",
                "ml.model.name": MODEL,
                "ml.model.version": VERSION,
                **{f"ml.feature.f{i}": float(v) for i, v in enumerate(x)},
                "ml.prediction.score": float(1 / (1 + np.exp(-x[:3].sum()))),
            }
            with self.tracer.start_as_current_span(f"inference {MODEL}", attributes=attrs) as span:
                out[span.get_span_context().trace_id.to_bytes(16, "big")] = float(x[int(SHIFTED[1:])])
        assert self.provider.force_flush(30_000)
        return out

    def close(self) -> None:
        self.provider.shutdown()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'collector'}"}
    env.pop("OTELML_TRACE_URL_TEMPLATE", None)
    return subprocess.run(
        [sys.executable, "-m", "otelml.cli", "drift", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_drift_done_when(tmp_path):
    tap_port = free_port()
    tap = OtelTapHttpProtobufReceiver(OtelTapHttpProtobufReceiverSettings(http_port=tap_port))
    await tap.start()
    spans, logs, metrics = [], [], []

    async def collect(stream, sink):
        async for item in stream:
            sink.append(item)

    tasks = [
        asyncio.create_task(collect(tap.stream_traces(), spans)),
        asyncio.create_task(collect(tap.stream_logs(), logs)),
        asyncio.create_task(collect(tap.stream_metrics(), metrics)),
    ]
    await asyncio.sleep(0.1)
    sidecar = Sidecar(tmp_path, tap_port)
    try:
        await asyncio.to_thread(sidecar.start)
        client = Client(sidecar.grpc)
        warm = await asyncio.to_thread(client.predict, WARMUP, 0.0)
        first = await asyncio.to_thread(client.predict, WINDOW // 2, 1.0)
        await asyncio.to_thread(
            sidecar.wait_for,
            lambda a: (a["models"][0]["open_window"] or {}).get("count") == WINDOW // 2,
            "the first half of the window",
        )

        # restart mid-window: SIGTERM checkpoints the open window, the new process resumes it
        assert await asyncio.to_thread(sidecar.stop) == 0
        await asyncio.to_thread(sidecar.start)
        resumed = sidecar.drift()["models"][0]
        assert resumed["baseline"] == "warmup"
        assert resumed["open_window"]["count"] == WINDOW // 2, resumed

        second = await asyncio.to_thread(client.predict, WINDOW // 2, 1.0)
        shifted = {**first, **second}
        answer = await asyncio.to_thread(sidecar.wait_for, lambda a: a["drift"], "the window's scores")
        rows = answer["drift"]

        # within one window: the shifted feature is flagged, the 19 others are not
        assert {r["feature"] for r in rows if r["drifted"]} == {SHIFTED}
        assert {r["window"]["count"] for r in rows} == {WINDOW}  # nothing lost across the restart
        assert {r["feature"] for r in rows if r["kind"] == "feature"} == {f"f{i}" for i in range(N_FEATURES)}
        flagged = [r for r in rows if r["feature"] == SHIFTED and r["drifted"]]
        api_traces = {bytes.fromhex(e["trace_id"]) for r in flagged for e in r["exemplars"]}
        assert api_traces and api_traces <= set(shifted)
        assert api_traces & set(first) or len(api_traces) < 3  # reservoirs survived the restart too

        # metric points with exemplars of shifted predictions, at the downstream OTLP endpoint
        def drift_points():
            return [
                (p, {a.key: a.value.string_value for a in p.attributes})
                for m in metrics
                if m.name == "ml.feature.drift"
                for p in m.gauge.data_points
            ]

        await wait_until(
            lambda: any(a["ml.feature.name"] == SHIFTED and p.exemplars for p, a in drift_points())
        )
        shifted_points = [p for p, a in drift_points() if a["ml.feature.name"] == SHIFTED and p.exemplars]
        exemplar_traces = {e.trace_id for p in shifted_points for e in p.exemplars}
        assert exemplar_traces <= set(shifted)
        assert len(exemplar_traces) >= 3
        unchanged = [p for p, a in drift_points() if a["ml.feature.name"] == "f0"]
        assert unchanged and not any(p.exemplars for p in unchanged)
        assert not set(exemplar_traces) & set(warm)

        # the alert log record, with the trace id of a shifted prediction
        await wait_until(lambda: any(r.severity_number >= 13 for r in logs))
        alerts = [r for r in logs if r.severity_number >= 13]
        attrs = [{a.key: a.value for a in r.attributes} for r in alerts]
        assert {a["ml.feature.name"].string_value for a in attrs} == {SHIFTED}
        for r, a in zip(alerts, attrs, strict=True):
            assert r.trace_id in shifted
            assert a["ml.drift.score"].double_value >= a["ml.drift.threshold"].double_value
            assert a["ml.model.name"].string_value == MODEL and a["ml.model.version"].string_value == VERSION

        # forwarded spans: intact, and tagged where the shifted value is beyond the baseline's range
        await wait_until(lambda: len(spans) >= WARMUP + WINDOW)
        top = max(warm.values())
        tagged = {}
        for s in spans:
            attrs = {a.key: a.value for a in s.attributes}
            if "ml.drift.features" in attrs:
                tagged[s.trace_id] = [v.string_value for v in attrs["ml.drift.features"].array_value.values]
        beyond = {t for t, v in shifted.items() if v > top}
        assert beyond, "the shift put no value beyond the warm-up maximum"
        assert beyond <= set(tagged)
        assert all(SHIFTED in names for t, names in tagged.items() if t in beyond)

        # the command line shows it, with trace links
        out = await asyncio.to_thread(run_cli, "--url", sidecar.url, "--model", MODEL)
        assert out.returncode == 0, out.stderr
        line = next(x for x in out.stdout.splitlines() if f" {SHIFTED} " in x and "YES" in x)
        trace_hex = {t.hex() for t in api_traces}
        assert any(h in line for h in trace_hex)
        assert any(f"http://localhost:16686/trace/{h}" in line for h in trace_hex)
        client.close()
    finally:
        if sidecar.proc is not None and sidecar.proc.poll() is None:
            await asyncio.to_thread(sidecar.stop)
        for t in tasks:
            t.cancel()
        await tap.stop()

    # sidecar gone: exit code 2 naming the URL
    out = await asyncio.to_thread(run_cli, "--url", sidecar.url)
    assert out.returncode == 2
    assert f"{sidecar.url}/v1/drift" in out.stderr


async def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")
