"""Issue 13 finding 4, "ingest amplification", through a real sidecar subprocess with the drift
processors on: 16 MiB of tiny array cells over OTLP/HTTP protobuf, and a 16 MiB OTLP/JSON body of
tiny cells. Before the fix the first took the sidecar +1.5 GB (and logged 16,776 "window closed"
lines), the second +1.4 GB with 1 GB held afterwards. Now both are refused with a 400 naming
`max_cells_per_request` before anything is decoded into objects: the sidecar's peak RSS (VmHWM)
stays under 400 MB, it logs a line or two, and a valid client's export still succeeds within 1 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import sidecar_config

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
CELLS_PER_SPAN = 100_000


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def _len(field: int, payload: bytes) -> bytes:
    n, out = len(payload), bytearray([field << 3 | 2])
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def tiny_cells_protobuf(limit: int) -> bytes:
    """An ExportTraceServiceRequest of inference spans, each with a 100,000-element array feature of
    4-byte cells, as close to `limit` bytes as whole spans get."""
    span = trace_pb2.Span(name="inference m", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    for key, value in (("ml.operation.name", "inference"), ("ml.model.name", "m"), ("ml.model.version", "1")):
        span.attributes.add(key=key).value.string_value = value
    values = span.attributes.add(key="ml.feature.x").value.array_value.values
    for _ in range(CELLS_PER_SPAN):
        values.add().int_value = 1
    one = _len(2, span.SerializeToString())
    scope = one * ((limit - 100) // len(one))
    return _len(1, _len(2, scope))


def tiny_cells_json(limit: int, cells_per_span: int = CELLS_PER_SPAN) -> bytes:
    cells = b",".join([b'{"intValue":1}'] * cells_per_span)
    attrs = [
        b'{"key":"ml.operation.name","value":{"stringValue":"inference"}}',
        b'{"key":"ml.model.name","value":{"stringValue":"m"}}',
        b'{"key":"ml.model.version","value":{"stringValue":"1"}}',
        b'{"key":"ml.feature.x","value":{"arrayValue":{"values":[' + cells + b"]}}}",
    ]
    span = b'{"traceId":"%s","spanId":"%s","name":"inference m","attributes":[%s]}' % (
        b"01" * 16,
        b"02" * 8,
        b",".join(attrs),
    )
    spans = b",".join([span] * ((limit - 100) // (len(span) + 1)))
    return b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + spans + b"]}]}]}"


def test_tiny_cells_are_refused_before_they_cost_memory(sidecar, otlp_sink, tmp_path):
    config = sidecar_config(
        tmp_path,
        downstream=otlp_sink.endpoint,
        processors={"ml_extract": {}, "drift": {"baseline": {"warmup": 400}, "window": {"size": 250}}},
    )
    sc = sidecar(config)
    url = sc.http_url + "/v1/traces"
    lines_before = len(sc.log().splitlines())

    body = tiny_cells_protobuf(16 * MIB)
    assert 15 * MIB < len(body) <= 16 * MIB
    resp = requests.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    assert resp.status_code == 400
    message = status_pb2.Status.FromString(resp.content).message
    assert "max_cells_per_request" in message and "over the limit of 500000 cells" in message

    body = tiny_cells_json(16 * MIB)
    assert 15 * MIB < len(body) <= 16 * MIB
    resp = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert resp.status_code == 400
    assert "max_cells_per_request" in json.loads(resp.content)["message"]

    peak = vm_hwm_mib(sc.proc.pid)
    assert peak < 400, f"sidecar peak RSS {peak:.0f} MiB"
    new_lines = sc.log().splitlines()[lines_before:]
    assert len(new_lines) <= 3, "\n".join(new_lines[:20])
    assert sc.counters()["spans"]["refused_requests"]["too_many_cells"] == 2

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("valid").start_as_current_span("valid-client"):
        pass
    exporter = OTLPSpanExporter(endpoint=url, timeout=1)
    try:
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert otlp_sink.wait_spans(1)[0].name == "valid-client"


def test_concurrent_large_json_exports_are_parsed_within_a_budget(sidecar, otlp_sink, tmp_path):
    """Eight clients export a 16 MiB OTLP/JSON body just under the cell limit at the same time. Parsed
    side by side they cost ~165 MB each (without the parse budget the sidecar peaked at 1.4 GB); with
    it, every export is accepted and forwarded, and eight at once cost the sidecar less than twice
    what one costs (measured: 263 MiB peak for one, 419 for eight; 1,429 without the budget)."""
    from concurrent.futures import ThreadPoolExecutor

    body = tiny_cells_json(16 * MIB, cells_per_span=1)  # 235,630 cells (518,389 JSON objects)
    spans = body.count(b'"name":"inference m"')
    sc = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint))
    url = sc.http_url + "/v1/traces"

    def export(_: int) -> int | str:
        resp = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
        return resp.status_code if resp.status_code == 200 else resp.text

    assert export(0) == 200
    otlp_sink.wait_spans(spans, timeout=120)
    one = vm_hwm_mib(sc.proc.pid)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(export, range(8)))
    assert codes == [200] * 8
    assert len(otlp_sink.wait_spans(9 * spans, timeout=120)) == 9 * spans
    eight = vm_hwm_mib(sc.proc.pid)
    assert eight < 2 * one, f"peak RSS {one:.0f} MiB for one export, {eight:.0f} for eight"
