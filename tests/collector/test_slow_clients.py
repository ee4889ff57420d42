"""Finding 3 of issue 13: slow OTLP/HTTP clients must not starve the others.

40 connections (more than `max_concurrent_requests`, 32) send headers and then trickle their bodies
a byte at a time; meanwhile the OTel SDK's HTTP exporter must get its batch accepted within its own
2 s timeout (before the fix the trickling bodies held every slot and it timed out). The trickling
connections are answered 408 once `read_timeout` passes.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import OtlpSink, sidecar_config

pytestmark = pytest.mark.e2e

SLOW = 40
READ_TIMEOUT = 4.0


def trickle(host: str, port: int, stop: threading.Event, sockets: list[socket.socket]) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    sockets.append(sock)
    sock.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    while not stop.wait(0.2):
        try:
            sock.sendall(b"\x0a")
        except OSError:
            return


def test_trickling_bodies_do_not_block_a_normal_client(sidecar, tmp_path):
    with OtlpSink() as sink:
        config = sidecar_config(tmp_path, downstream=sink.endpoint)
        config["receivers"]["otlp"]["protocols"]["http"]["read_timeout"] = f"{READ_TIMEOUT}s"
        sc = sidecar(config)
        host, port = sc.http_endpoint.rsplit(":", 1)
        stop = threading.Event()
        sockets: list[socket.socket] = []
        threads = [
            threading.Thread(target=trickle, args=(host, int(port), stop, sockets), daemon=True)
            for _ in range(SLOW)
        ]
        for t in threads:
            t.start()
        time.sleep(0.5)  # every slow connection is in and trickling
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("slow").start_as_current_span("normal-client"):
            pass
        exporter = OTLPSpanExporter(endpoint=sc.http_url + "/v1/traces", timeout=2)
        try:  # SUCCESS within the exporter's 2 s, while the slow ones still trickle (read_timeout 4 s)
            assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        assert sink.wait_spans(1)[0].name == "normal-client"

        answers = []
        for sock in sockets[:3]:
            sock.settimeout(READ_TIMEOUT + 5)
            answers.append(sock.recv(200).split(b"\r\n", 1)[0])
        stop.set()
        for sock in sockets:
            sock.close()
        assert answers == [b"HTTP/1.1 408 Request Timeout"] * 3
        refused = sc.counters()["spans"]
        assert refused["refused_requests"]["read_timeout"] >= 3
