"""In-process sidecar with a test processor: a full pipeline queue answers with retry hints
(gRPC RESOURCE_EXHAUSTED + RetryInfo, HTTP 503 + Retry-After), and a processor that raises never
costs the telemetry. Real sockets, real oteltap downstream."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import pytest
import requests
import yaml
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc
from otelml_collector import registry
from otelml_collector.component import ComponentConfig
from otelml_collector.config import parse_config
from otelml_collector.service import Sidecar

from tests.support import sidecar_config, wait_until

TRACE_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GATE = threading.Event()


@dataclass
class GateConfig(ComponentConfig):
    fail: bool = False


class GateProcessor:
    """Blocks until GATE is set (a slow processor), or raises (a buggy one)."""

    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self.seen = 0

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def process(self, request: Any) -> Any:
        self.seen += 1
        if self.config.fail:
            request.message.resource_spans[0].scope_spans[0].spans[0].name = "half-modified"
            raise RuntimeError("processor bug")
        GATE.wait(30)
        return request


class GateFactory:
    type: ClassVar[str] = "test_gate"
    kind: ClassVar[str] = "processor"

    def default_config(self) -> GateConfig:
        return GateConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> GateConfig:
        return GateConfig(**raw)

    def create(self, config: ComponentConfig, ctx: Any) -> GateProcessor:
        assert isinstance(config, GateConfig)
        return GateProcessor(config)


@pytest.fixture
def in_process(otlp_sink, tmp_path):
    registry.register(GateFactory())
    started: list[Sidecar] = []

    def start(fail: bool = False, queue: dict[str, Any] | None = None, durable: bool = False) -> Sidecar:
        config = sidecar_config(
            tmp_path, downstream=otlp_sink.endpoint, processors={"test_gate": {"fail": fail}}
        )
        config["service"]["queue"] = queue or {"max_requests": 2, "retry_after": "3s"}
        if durable:  # a request is acknowledged once processed and on disk
            config["extensions"] = {"file_storage": {"directory": str(tmp_path / "queue")}}
            config["service"]["extensions"] = ["file_storage"]
            config["exporters"]["otlp"]["sending_queue"] = {"storage": "file_storage"}
        sc = Sidecar(parse_config(yaml.safe_dump(config), "test.yaml"))
        started.append(sc)
        sc.start()
        return sc

    GATE.clear()
    yield start
    GATE.set()
    for sc in started:
        sc.shutdown()
    registry.unregister("processor", "test_gate")


def request_bytes(name: str, n: int = 3, cells: int = 0) -> bytes:
    """`n` spans; the first carries an array attribute of `cells - 1` elements (`cells` cells)."""
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        scope.spans.add(name=f"{name}-{i}", trace_id=b"\x07" * 16, span_id=(i + 1).to_bytes(8, "big"))
    if cells:
        values = scope.spans[0].attributes.add(key="x").value.array_value.values
        for j in range(cells - 1):
            values.add().int_value = j
    return req.SerializeToString()


def post(sc: Sidecar, body: bytes) -> requests.Response:
    port = sc.components["receivers.otlp"].http_port
    return requests.post(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )


def test_full_queue_answers_with_retry_hints_then_recovers(in_process, otlp_sink):
    sc = in_process()
    assert post(sc, request_bytes("first")).status_code == 200  # taken by the (blocked) processor
    wait_until(
        lambda: sc.pipelines["traces"].depth()["requests"] == 0, what="worker busy with the first request"
    )
    assert post(sc, request_bytes("q1")).status_code == 200
    assert post(sc, request_bytes("q2")).status_code == 200  # queue now holds 2 = max_requests

    full = post(sc, request_bytes("refused-http"))
    assert full.status_code == 503
    assert full.headers["Retry-After"] == "3"
    assert "queue is full" in status_pb2.Status.FromString(full.content).message

    port = sc.components["receivers.otlp"].grpc_port
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(TRACE_PATH)(request_bytes("refused-grpc"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = dict(refused.value.trailing_metadata())["grpc-status-details-bin"]
    info = error_details_pb2.RetryInfo()
    assert status_pb2.Status.FromString(details).details[0].Unpack(info)
    assert info.retry_delay.seconds == 3

    GATE.set()  # the processor catches up
    wait_until(lambda: len(otlp_sink.spans) >= 9, what="the 9 accepted spans downstream")
    names = set(otlp_sink.span_names())
    assert {f"{b}-{i}" for b in ("first", "q1", "q2") for i in range(3)} == names
    counters = sc.counters.snapshot()["spans"]
    assert counters["received"] == 9
    assert counters["refused"] == {"total": 6, "queue_full": 6}
    assert post(sc, request_bytes("after")).status_code == 200


def test_processor_error_never_loses_telemetry(in_process, otlp_sink):
    sc = in_process(fail=True)
    for batch in ("a", "b"):
        assert post(sc, request_bytes(batch)).status_code == 200
    wait_until(lambda: len(otlp_sink.spans) >= 6, what="6 spans downstream despite the failing processor")
    assert sc.status()["pipelines"]["traces"]["processor_errors"] == {"test_gate": 2}
    # the sink holds the spans a moment before the exporter's call returns and counts them
    wait_until(lambda: sc.counters.snapshot()["spans"]["forwarded"] == 6, what="6 spans counted as forwarded")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_exporter_honours_the_downstreams_retry_hint(protocol, in_process, otlp_sink, tmp_path):
    """Sidecar A forwards to sidecar B whose queue is full: B answers RetryInfo / Retry-After of 3 s, and
    A waits that long instead of retrying on its own 50 ms backoff, then delivers."""
    b = in_process()
    assert post(b, request_bytes("first")).status_code == 200  # B's processor is blocked on it...
    wait_until(lambda: b.pipelines["traces"].depth()["requests"] == 0, what="B's worker busy")
    for name in ("q1", "q2"):  # ...and its queue is full
        assert post(b, request_bytes(name)).status_code == 200
    receiver = b.components["receivers.otlp"]
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    config = sidecar_config(tmp_path / "a", downstream=f"http://127.0.0.1:{port}", protocol=protocol)
    config["exporters"]["otlp"]["retry_on_failure"] = {"initial_interval": "50ms", "max_interval": "1s"}
    config["service"]["telemetry"] = {"metrics": {"enabled": False}, "logs": {"enabled": False}}
    a = Sidecar(parse_config(yaml.safe_dump(config), "a.yaml"))
    a.start()
    try:
        sent_at = time.monotonic()
        assert post(a, request_bytes("via-a")).status_code == 200
        wait_until(lambda: b.counters.get("traces", "refused", "queue_full") == 3, what="B refused A once")
        time.sleep(2.0)
        assert b.counters.get("traces", "refused", "queue_full") == 3  # no retry inside the 3 s hint
        GATE.set()
        wait_until(
            lambda: {"via-a-0", "via-a-1", "via-a-2"} <= set(otlp_sink.span_names()),
            timeout=15,
            what="A's spans delivered through B after the hint",
        )
        assert time.monotonic() - sent_at >= 2.9
        assert a.counters.get("traces", "forwarded") == 3
    finally:
        a.shutdown()


def test_queue_admits_by_cells_in_flight(in_process, otlp_sink):
    """service.queue.max_cells bounds the cells queued plus being processed: a request that would go
    over it is refused with a retry hint (503 / RESOURCE_EXHAUSTED) while a smaller one still fits."""
    sc = in_process(queue={"max_requests": 100, "max_cells": 100, "retry_after": "2s"})
    assert post(sc, request_bytes("first", cells=60)).status_code == 200  # the processor holds it
    wait_until(
        lambda: sc.pipelines["traces"].depth() == {"requests": 0, "bytes": 0, "cells": 60},
        what="worker busy with the first request",
    )
    full = post(sc, request_bytes("big", cells=50))  # 60 + 50 > 100
    assert full.status_code == 503 and full.headers["Retry-After"] == "2"
    port = sc.components["receivers.otlp"].grpc_port
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(TRACE_PATH)(request_bytes("big-grpc", cells=50), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert post(sc, request_bytes("small", cells=30)).status_code == 200  # 90 <= 100
    assert sc.pipelines["traces"].depth()["cells"] == 90
    GATE.set()
    wait_until(lambda: len(otlp_sink.spans) >= 6, what="the accepted spans downstream")
    assert {n.rsplit("-", 1)[0] for n in otlp_sink.span_names()} == {"first", "small"}
    assert sc.counters.snapshot()["spans"]["refused"] == {"total": 6, "queue_full": 6}
    wait_until(lambda: sc.pipelines["traces"].depth()["cells"] == 0, what="cells released")
    assert post(sc, request_bytes("after", cells=100)).status_code == 200


def test_grpc_call_waiting_for_the_disk_queue_does_not_stall_other_calls(in_process, otlp_sink):
    """With a durable queue a gRPC call is answered once its request is processed and on disk; while
    it waits (the processor is blocked), the receiver still answers other calls."""
    sc = in_process(durable=True)
    port = sc.components["receivers.otlp"].grpc_port
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(TRACE_PATH)
        waiting = export.future(request_bytes("durable", cells=5), timeout=30)
        wait_until(lambda: sc.pipelines["traces"].depth()["cells"] > 0, what="the processor holds it")
        assert not waiting.done()
        with pytest.raises(grpc.RpcError) as bad:
            export(b"\x0a\x05garbage", timeout=5)  # any call needs the receiver's event loop
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert not waiting.done()  # still waiting for the disk queue
        GATE.set()
        assert waiting.result(timeout=30) == b""  # ExportTraceServiceResponse without partial success
    wait_until(lambda: len(otlp_sink.spans) >= 3, what="the durable request's spans downstream")
