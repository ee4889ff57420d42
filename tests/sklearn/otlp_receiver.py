"""A real OTLP/gRPC receiver for tests: keeps every request's raw bytes, per signal.

Built on grpcio with the opentelemetry-proto messages; the request deserializer is left out so the
bytes the exporter put on the wire are kept exactly (redaction is checked on them).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_SERVICES = {
    "traces": ("opentelemetry.proto.collector.trace.v1.TraceService",
               trace_service_pb2.ExportTraceServiceResponse),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.MetricsService",
                metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": ("opentelemetry.proto.collector.logs.v1.LogsService",
             logs_service_pb2.ExportLogsServiceResponse),
}


class RawOtlpReceiver:
    """``with RawOtlpReceiver() as rx:`` listens on 127.0.0.1:<free port> (``rx.endpoint``)."""

    def __init__(self) -> None:
        self.requests: dict[str, list[bytes]] = defaultdict(list)
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        for signal, (service, response) in _SERVICES.items():
            handler = grpc.unary_unary_rpc_method_handler(
                self._export(signal, response), request_deserializer=None,
                response_serializer=lambda msg: msg.SerializeToString(),
            )
            self._server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _export(self, signal: str, response: Any) -> Any:
        def export(request: bytes, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests[signal].append(request)
            return response()

        return export

    def spans(self) -> list[Any]:
        """Every span received, decoded, in start-time order."""
        out = []
        for raw in self.requests["traces"]:
            msg = trace_service_pb2.ExportTraceServiceRequest.FromString(raw)
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    out.extend(ss.spans)
        return sorted(out, key=lambda s: s.start_time_unix_nano)

    @staticmethod
    def attributes(span: Any) -> dict[str, Any]:
        """A decoded span's attributes as a dict of Python values."""
        return attributes(span)

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"".join(b for reqs in self.requests.values() for b in reqs)

    def __enter__(self) -> RawOtlpReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


def attribute_value(value: Any) -> Any:
    """An OTLP AnyValue as a Python value (arrays as lists)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [attribute_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def attributes(span: Any) -> dict[str, Any]:
    return {kv.key: attribute_value(kv.value) for kv in span.attributes}
