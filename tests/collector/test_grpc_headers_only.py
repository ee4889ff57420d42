"""Finding 3 of issue 13, gRPC side: calls that send headers and never their message must not
starve the other clients.

64 gRPC calls (2 x `max_concurrent_requests`) send their headers and then nothing (a request
iterator that never yields); meanwhile the OTel SDK's gRPC exporter must get its batch accepted
within its own 1 s timeout (before the fix those calls held every `maximum_concurrent_rpcs` slot
and it got RESOURCE_EXHAUSTED until it gave up). The silent calls are ended by the receiver's
`read_timeout`. With a token configured, a headers-only call without it is refused
UNAUTHENTICATED at once, before any message is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import OtlpSink, sidecar_config, wait_until

pytestmark = pytest.mark.e2e

TRACE_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MAX_CONCURRENT = 32  # the default of receivers.otlp.protocols.grpc.max_concurrent_requests
SILENT = 2 * MAX_CONCURRENT
CHANNELS = 8
READ_TIMEOUT = 4.0


def never(stop: threading.Event) -> Iterator[bytes]:
    """A request stream that sends nothing until `stop` (the call has sent its headers only)."""
    stop.wait()
    return
    yield b""  # pragma: no cover - makes this a generator


def silent_calls(endpoint: str, stop: threading.Event, metadata=()) -> tuple[list, list]:
    """SILENT headers-only calls spread over CHANNELS connections; (channels, futures)."""
    channels = [
        grpc.insecure_channel(endpoint, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(CHANNELS)
    ]
    futures = []
    for i in range(SILENT):
        call = channels[i % CHANNELS].stream_unary(TRACE_PATH)
        futures.append(call.future(never(stop), timeout=30, metadata=metadata))
    return channels, futures


def one_span(name: str):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("headers-only").start_as_current_span(name):
        pass
    return memory.get_finished_spans()


def test_headers_only_grpc_calls_do_not_block_a_normal_client(sidecar, tmp_path):
    with OtlpSink() as sink:
        config = sidecar_config(tmp_path, downstream=sink.endpoint)
        config["receivers"]["otlp"]["protocols"]["grpc"]["read_timeout"] = f"{READ_TIMEOUT}s"
        sc = sidecar(config)
        stop = threading.Event()
        channels, futures = silent_calls(sc.grpc_endpoint, stop)
        try:
            time.sleep(1.0)  # every silent call has reached the server and waits there
            assert not any(f.done() for f in futures)
            exporter = OTLPSpanExporter(endpoint=sc.grpc_endpoint, insecure=True, timeout=1)
            try:  # SUCCESS within the exporter's 1 s while the silent calls are still open
                assert exporter.export(one_span("normal-client")) is SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
            assert sink.wait_spans(1)[0].name == "normal-client"

            # the receiver ends the silent calls once read_timeout has passed
            wait_until(
                lambda: all(f.done() for f in futures),
                timeout=READ_TIMEOUT + 10,
                what="silent calls ended by the sidecar",
            )
            codes = {f.exception().code() for f in futures}
            assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED}
        finally:
            stop.set()
            for channel in channels:
                channel.close()
        assert sc.counters()["spans"]["refused_requests"]["read_timeout"] >= SILENT


def test_too_many_waiting_calls_are_refused_at_once(sidecar, tmp_path):
    """Beyond `max_concurrent_readers` calls waiting for their message, new ones get
    RESOURCE_EXHAUSTED at once instead of queueing; a normal export still goes through."""
    with OtlpSink() as sink:
        config = sidecar_config(tmp_path, downstream=sink.endpoint)
        config["receivers"]["otlp"]["protocols"]["grpc"]["max_concurrent_readers"] = SILENT // 2
        sc = sidecar(config)
        stop = threading.Event()
        channels, futures = silent_calls(sc.grpc_endpoint, stop)
        try:
            wait_until(
                lambda: sum(f.done() for f in futures) >= SILENT // 2,
                what="calls beyond max_concurrent_readers refused",
            )
            refused = [f for f in futures if f.done()]
            assert {f.exception().code() for f in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
            assert "max_concurrent_readers" in refused[0].exception().details()
            exporter = OTLPSpanExporter(endpoint=sc.grpc_endpoint, insecure=True, timeout=5)
            try:  # the readers are full, but a client whose message arrives at once is let through
                assert exporter.export(one_span("normal-client")) is SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
        finally:
            stop.set()
            for channel in channels:
                channel.close()
        assert sink.wait_spans(1)[0].name == "normal-client"
        assert sc.counters()["spans"]["refused_requests"]["too_many_readers"] >= SILENT // 2


def test_unauthenticated_call_is_refused_before_its_message(sidecar, tmp_path, monkeypatch):
    with OtlpSink() as sink:
        config = sidecar_config(tmp_path, downstream=sink.endpoint)
        config["receivers"]["otlp"]["protocols"]["grpc"]["auth"] = {"authenticator": "bearertokenauth"}
        config["service"]["extensions"] = ["bearertokenauth"]
        config["extensions"] = {"bearertokenauth": {"token": "${env:OTELML_TOKEN}"}}
        sc = sidecar(config, env={"OTELML_TOKEN": "s3cret"})
        stop = threading.Event()
        channel = grpc.insecure_channel(sc.grpc_endpoint)
        try:
            future = channel.stream_unary(TRACE_PATH).future(never(stop), timeout=30)
            with pytest.raises(grpc.RpcError) as err:
                future.result(timeout=10)  # the message was never sent
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            stop.set()
            channel.close()
