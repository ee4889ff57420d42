"""Fixtures: real OTel SDK providers with in-memory exporters/readers (given to otelml through
configure()), and a real OTLP/gRPC trace receiver built on the opentelemetry-proto service stubs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
except ImportError:  # SDK < 1.39
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelml
from otelml import _config, _telemetry


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def finished(self) -> list:
        return list(self.spans.get_finished_spans())

    def collect(self) -> dict[str, list]:
        """Data points by metric name (one collection: exemplars are reset by each)."""
        data = self.metrics.get_metrics_data()
        points: dict[str, list] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    for var in ("OTELML_CAPTURE_FEATURES", "OTELML_REDACT_FEATURES", "OTELML_HASH_FEATURES",
                "OTELML_DROP_FEATURES", "OTELML_LOG_PREDICTIONS", "OTELML_METRICS", "OTELML_MAX_BATCH_ROWS"):
        monkeypatch.delenv(var, raising=False)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    otelml.configure(tracer_provider=tracer_provider, meter_provider=meter_provider,
                     logger_provider=logger_provider)
    _config.configure()
    yield Telemetry(tracer_provider, spans, reader, logs)
    _telemetry.reset_providers()
    _config.configure()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()



class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: OtlpTraceReceiver) -> None:
        self._sink = sink

    def Export(self, request: Any, context: Any) -> Any:
        self._sink.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpTraceReceiver:
    """Listens on 127.0.0.1:<ephemeral>; ``spans()`` flattens every received span with its service."""

    def __init__(self) -> None:
        self._requests: list[Any] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpTraceReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def add(self, request: Any) -> None:
        with self._lock:
            self._requests.append(request)

    def spans(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            requests = list(self._requests)
        for request in requests:
            for rs in request.resource_spans:
                resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append({
                            "service": resource.get("service.name"),
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                        })
        return out

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.05)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpTraceReceiver]:
    with OtlpTraceReceiver() as receiver:
        yield receiver


class OtlpHttpReceiver:
    """OTLP/HTTP protobuf receiver (stdlib ``http.server``) on 127.0.0.1:<ephemeral>, all three signals."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        self.requests: dict[str, list[Any]] = {"traces": [], "metrics": [], "logs": []}
        messages = {
            "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest),
            "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest),
            "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest),
        }
        sink = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                signal, message = messages.get(self.path, (None, None))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if signal is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                sink[signal].append(message.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpHttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def otlp_http_receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver
