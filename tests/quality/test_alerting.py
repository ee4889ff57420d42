"""A run is announced where the user configured it: a Slack-compatible webhook (a real local HTTP server)
on failure, and OTLP (a real third-party http/protobuf receiver, oteltap) with the standard OTEL_*
variables."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

EXPECTATIONS = """\
columns:
  age:
    not_null: true
    between: {min: 0, max: 120}
  country:
    in_set: [US, DE]
"""


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    pd.DataFrame({"age": [30, 200, None, 40], "country": ["US", "DE", "XX", "US"]}).to_csv(
        tmp_path / "batch.csv", index=False)
    pd.DataFrame({"age": [30, 40], "country": ["US", "DE"]}).to_csv(tmp_path / "good.csv", index=False)
    (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
    return tmp_path


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/x", handler
    server.shutdown()
    server.server_close()


def test_webhook_gets_a_slack_message_on_failure_only(batch, otelml_inproc, webhook):
    otelml = otelml_inproc
    url, hook = webhook
    ok = otelml("validate", "good.csv", "-e", "expectations.yaml", "--alert-webhook", url)
    assert ok.code == 0 and hook.received == []
    bad = otelml("validate", "batch.csv", "-e", "expectations.yaml", "--alert-webhook", url)
    assert bad.code == 1
    assert len(hook.received) == 1
    path, ctype, payload = hook.received[0]
    assert path == "/services/T0/B0/x" and ctype == "application/json"
    text = payload["text"]
    assert payload["blocks"][0]["text"] == {"type": "mrkdwn", "text": text}
    assert "Data-quality gate FAILED: `batch.csv`" in text
    assert "3 of 3 expectations failed on 4 rows" in text
    assert ('*age: between*: observed {"min": 30.0, "max": 200.0}, 1 unexpected (33.33%), e.g. row 1: 200.0'
            in text)
    assert "*country: in_set*" in text and "'XX'" in text
    err = otelml("validate", "missing.csv", "-e", "expectations.yaml", "--alert-webhook", url)
    assert err.code == 2 and "missing.csv: data file not found" in hook.received[1][2]["text"]


def test_unreachable_or_failing_webhook_warns_but_keeps_the_verdict(batch, otelml_inproc, webhook):
    otelml = otelml_inproc
    url, hook = webhook
    hook.status = 500
    run = otelml("validate", "batch.csv", "-e", "expectations.yaml", "--alert-webhook", url)
    assert run.code == 1
    assert f"otelml validate: warning: alert webhook {url} answered HTTP 500" in run.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    run = otelml("validate", "batch.csv", "-e", "expectations.yaml", "--alert-webhook", dead)
    assert run.code == 1 and f"alert webhook {dead} unreachable" in run.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = [x.string_value for x in v.array_value.values] if kind == "array_value" \
            else getattr(v, kind)
    return out


async def test_run_is_emitted_over_otlp_as_a_log_record_and_counters(batch, audit_db):
    oteltap = pytest.importorskip("oteltap")
    port = _free_port()
    tap = oteltap.OtelTapHttpProtobufReceiver(oteltap.OtelTapHttpProtobufReceiverSettings(http_port=port))
    await tap.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(OTELML_AUDIT_DB=str(audit_db), OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_SERVICE_NAME="nightly-scoring")
        # oteltap hands a message only to waiters registered before it arrives
        waiting = [
            asyncio.ensure_future(tap.await_log(lambda r: r.event_name == "ml.data_quality.run", timeout=30)),
            asyncio.ensure_future(tap.await_metric(lambda m: m.name == "ml.data_quality.runs", timeout=30)),
            asyncio.ensure_future(tap.await_metric(lambda m: m.name == "ml.data_quality.violations",
                                                   timeout=30)),
        ]
        await asyncio.sleep(0.1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "otelml.cli", "validate", "batch.csv", "-e", "expectations.yaml",
            cwd=batch, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1, stderr.decode()
        assert b"warning" not in stderr
        log, runs, violations = await asyncio.gather(*waiting)
    finally:
        await tap.stop()
    assert log.severity_text == "WARN" and log.severity_number == 13
    attrs = _attrs(log.attributes)
    assert attrs["ml.data_quality.status"] == "failed"
    assert attrs["ml.data_quality.dataset"] == "batch.csv"
    assert attrs["ml.data_quality.suite"] == "expectations.yaml"
    assert attrs["ml.data_quality.failed"] == 3 and attrs["ml.data_quality.rows"] == 4
    assert attrs["ml.data_quality.failed_expectations"] == [
        "age: not_null", "age: between", "country: in_set"]
    assert "3 of 3 expectations failed" in log.body.string_value
    [point] = runs.sum.data_points
    assert point.as_int == 1 and _attrs(point.attributes)["ml.data_quality.status"] == "failed"
    counted = {(_attrs(p.attributes)["ml.feature.name"], _attrs(p.attributes)["ml.data_quality.expectation"]):
               p.as_int for p in violations.sum.data_points}
    assert counted == {("age", "not_null"): 1, ("age", "between"): 1, ("country", "in_set"): 1}


def test_unreachable_otlp_endpoint_warns_but_keeps_the_verdict(batch, otelml_inproc, monkeypatch, audit_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", dead)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    run = otelml_inproc("validate", "batch.csv", "-e", "expectations.yaml")
    assert run.code == 1
    assert "otelml validate: warning: OTLP log export failed" in run.stderr
    assert "otelml validate: warning: OTLP metric export failed" in run.stderr
    assert otelml_inproc("audit", "--format", "json").json()[0]["status"] == "failed"  # still audited
