"""Lifecycle of every registered factory: create (default config) -> start -> consume a request ->
shutdown -> shutdown again (idempotent), as the Collector's generated lifecycle tests do."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.httpapi import HttpApi
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.state import StateStore
from otelml_collector.telemetry import Counters

from tests.support import wait_until

FACTORIES = registry.all_factories()
EXTENSION_SETTINGS: dict[str, dict[str, Any]] = {"bearertokenauth": {"token": "lifecycle-token"}}
"""Settings an extension needs to start (its defaults may be incomplete, as bearertokenauth's are)."""


def inference_request() -> bytes:
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(4):
        span = scope.spans.add(
            name="inference credit", trace_id=b"\x05" * 16, span_id=(i + 1).to_bytes(8, "big")
        )
        for key, value in (
            ("ml.operation.name", common_pb2.AnyValue(string_value="inference")),
            ("ml.model.name", common_pb2.AnyValue(string_value="credit")),
            ("ml.feature.income", common_pb2.AnyValue(double_value=100.0 + i)),
            ("ml.prediction.value", common_pb2.AnyValue(int_value=i % 2)),
        ):
            span.attributes.append(common_pb2.KeyValue(key=key, value=value))
    return req.SerializeToString()


def make_ctx(name: str, tmp_path, counters: Counters) -> ComponentContext:
    return ComponentContext(
        name=name,
        state=StateStore(tmp_path / "state"),
        meter_provider=MeterProvider(),
        logger_provider=LoggerProvider(),
        settings={"counters": counters},
        http_api=HttpApi("127.0.0.1:0"),
    )


def test_builtin_and_processor_factories_are_registered():
    kinds = {(f.kind, f.type) for f in FACTORIES}
    assert {("receiver", "otlp"), ("exporter", "otlp")} <= kinds
    assert ("processor", "ml_extract") in kinds  # the extraction module is part of the sidecar


@pytest.mark.parametrize("factory", FACTORIES, ids=[f"{f.kind}-{f.type}" for f in FACTORIES])
def test_lifecycle(factory: Any, tmp_path, otlp_sink):
    counters = Counters()
    ctx = make_ctx(factory.type, tmp_path, counters)
    default = factory.default_config()
    if factory.kind != "extension":
        default.validate()
    raw = inference_request()
    if factory.kind == "extension":
        config = factory.config_from_dict(dict(EXTENSION_SETTINGS.get(factory.type, {})))
        config.validate()
        component = factory.create(config, ctx)
        component.start()
    elif factory.kind == "receiver":
        config = factory.config_from_dict(
            {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}}
        )
        component = factory.create(config, ctx)
        got: list[TelemetryRequest] = []
        component.set_consumer(lambda request: got.append(request))
        component.start()
        with grpc.insecure_channel(f"127.0.0.1:{component.grpc_port}") as channel:
            channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(
                raw, timeout=10
            )
        assert [r.items for r in got] == [4] and got[0].raw == raw
    elif factory.kind == "exporter":
        config = factory.config_from_dict({"endpoint": otlp_sink.endpoint, "protocol": "http/protobuf"})
        component = factory.create(config, ctx)
        component.start()
        component.consume(TelemetryRequest(Signal.TRACES, raw, items=4))
        otlp_sink.wait_spans(4)
    else:
        component = factory.create(factory.config_from_dict({}), ctx)
        component.start()
        request = TelemetryRequest(
            Signal.TRACES, raw, message=svc.ExportTraceServiceRequest.FromString(raw), items=4
        )
        out = component.process(request)
        assert out is not None and out.signal == Signal.TRACES
    done = threading.Event()

    def stop_twice() -> None:
        component.shutdown()
        component.shutdown()
        done.set()

    threading.Thread(target=stop_twice, daemon=True).start()
    wait_until(done.is_set, timeout=20, what=f"{factory.kind} {factory.type} to shut down twice")
    ctx.state.close()
