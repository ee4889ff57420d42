"""Issue 13's hostile-input test, through a real sidecar over both transports: thousands of mutated OTLP
requests (protobuf over HTTP and gRPC, OTLP/JSON over HTTP) with ml_extract, drift and the prediction store
on. Every answer must be a refusal or an acceptance the client can act on (HTTP 2xx/4xx, gRPC OK /
INVALID_ARGUMENT / RESOURCE_EXHAUSTED, never a 5xx, INTERNAL or UNKNOWN), the sidecar's peak memory stays
bounded, it logs no traceback, and afterwards the OTel SDK's own exporters still get a valid span through.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.collector.test_cell_amplification import vm_hwm_mib
from tests.collector.test_extraction_equivalence import request_bytes
from tests.support import sidecar_config
from tests.support.net import wait_until

pytestmark = pytest.mark.e2e

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EDITS = ["flip", "insert", "delete", "duplicate", "overlong", "cut"]
JSON_EDITS = ['"', "{", "}", "[", "]", ",", ":", "0", "-1", "null", "x", "9" * 30]
GRPC_OK = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """1-4 byte-level edits: flips, inserts, deletes, repeated slices, padded (overlong) varints, a cut."""
    out = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op, at = rng.choice(EDITS), rng.randint(0, len(out))
        if op == "flip" and at < len(out):
            out[at] = rng.randrange(256)
        elif op == "insert":
            out[at:at] = rng.randbytes(rng.randint(1, 4))
        elif op == "delete":
            del out[at : at + rng.randint(1, 4)]
        elif op == "duplicate":
            end = min(len(out), at + rng.randint(1, 64))
            out[end:end] = out[at:end]
        elif op == "overlong" and at < len(out) and out[at] < 0x80:
            out[at : at + 1] = bytes([out[at] | 0x80]) + b"\x80" * rng.randint(0, 9) + b"\x00"
        elif op == "cut":
            del out[at:]
    return bytes(out)


def mutate_json(text: str, rng: random.Random) -> bytes:
    """Edits that keep most bodies parseable JSON with wrong OTLP content, and some that break it."""
    out = list(text)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(max(1, len(out)))
        out[at : at + rng.randint(0, 3)] = rng.choice(JSON_EDITS)
    return "".join(out).encode()


def _sdk_exporters_get_through(car, otlp_sink) -> None:
    before = len(otlp_sink.spans)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "after-the-storm"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("inference m") as span:
        span.set_attribute("ml.operation.name", "inference")
        span.set_attribute("ml.model.name", "m")
    finished = memory.get_finished_spans()
    for exporter in (
        HttpSpanExporter(endpoint=f"{car.http_url}/v1/traces", timeout=5),
        GrpcSpanExporter(endpoint=car.grpc_endpoint, insecure=True, timeout=5),
    ):
        started = time.monotonic()
        assert exporter.export(finished) == SpanExportResult.SUCCESS
        assert time.monotonic() - started < 1.0, "a valid client waited more than a second"
        exporter.shutdown()
    wait_until(lambda: len(otlp_sink.spans) >= before + 2, 15, what="both valid spans at the downstream sink")


def test_thousands_of_mutated_requests_get_client_answers_and_cost_bounded_memory(
    otlp_sink, sidecar, tmp_path
):  # the sink first, so that it outlives the sidecar's last export
    processors = {"ml_extract": {}, "drift": {"baseline": {"warmup": 200}}, "predictions": {}}
    car = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint, processors=processors))
    rng = random.Random(13)
    bases = [request_bytes(random.Random(seed)) for seed in range(50)]
    answers: dict[str, dict[object, int]] = {"http-protobuf": {}, "http-json": {}, "grpc": {}}

    with requests.Session() as http:
        for _ in range(1500):
            body = mutate(rng.choice(bases), rng)
            status = http.post(f"{car.http_url}/v1/traces", data=body, timeout=10,
                               headers={"Content-Type": "application/x-protobuf"}).status_code
            answers["http-protobuf"][status] = answers["http-protobuf"].get(status, 0) + 1
        texts = [MessageToJson(ExportTraceServiceRequest.FromString(b)) for b in bases[:10]]
        for _ in range(500):
            body = mutate_json(rng.choice(texts), rng)
            status = http.post(f"{car.http_url}/v1/traces", data=body, timeout=10,
                               headers={"Content-Type": "application/json"}).status_code
            answers["http-json"][status] = answers["http-json"].get(status, 0) + 1

    with grpc.insecure_channel(car.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT)  # bytes in, bytes out: no client-side serialisation
        for _ in range(1500):
            try:
                export(mutate(rng.choice(bases), rng), timeout=10)
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            answers["grpc"][code] = answers["grpc"].get(code, 0) + 1

    http_answers = [*answers["http-protobuf"].items(), *answers["http-json"].items()]
    bad_http = {s: n for s, n in http_answers if not 200 <= s < 500}
    assert bad_http == {}, answers
    assert set(answers["grpc"]) <= GRPC_OK, answers
    for kind in answers:  # the mutations really produce both verdicts on every transport
        accepted = sum(n for k, n in answers[kind].items() if k in (200, grpc.StatusCode.OK))
        assert 0 < accepted < sum(answers[kind].values()), (kind, answers[kind])
    assert car.proc.poll() is None, car.log()
    assert vm_hwm_mib(car.proc.pid) < 400
    _sdk_exporters_get_through(car, otlp_sink)
    log = Path(car.log_path).read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert len(log.splitlines()) < 200, "refusals are rate-limited, not one log line each"
    json.dumps({k: {str(s): n for s, n in v.items()} for k, v in answers.items()})  # the figures, printable
