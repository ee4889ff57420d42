"""A real Prometheus server scrapes the sidecar's `/metrics` and sees the sidecar's own counters."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support import free_port, sidecar_config, wait_until

pytestmark = pytest.mark.e2e


def _prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus not installed: `apt-get install prometheus` (.ci/run does this)")
    return binary


def _query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_received_and_forwarded_span_counts(sidecar, otlp_sink, tmp_path: Path) -> None:
    sc = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sc.http_url}/v1/traces")))
    tracer = provider.get_tracer("test")
    for i in range(37):
        tracer.start_span(f"s{i}").end()
    provider.shutdown()
    wait_until(lambda: len(otlp_sink.spans) >= 37, timeout=30, what="37 spans forwarded")

    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = sc.api.removeprefix("http://")
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: otelml-sidecar\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [_prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        def scraped() -> list[dict]:
            try:
                return _query(base, "otelml_collector_spans_received_total")
            except OSError:
                return []

        received = wait_until(scraped, timeout=60, interval=0.5, what="Prometheus scraping the sidecar")
        assert float(received[0]["value"][1]) == 37
        assert received[0]["metric"]["job"] == "otelml-sidecar"
        forwarded = _query(base, "otelml_collector_spans_forwarded_total")
        assert float(forwarded[0]["value"][1]) == 37
        up = _query(base, 'up{job="otelml-sidecar"}')
        assert float(up[0]["value"][1]) == 1  # the exposition parsed without errors
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prometheus.kill()
