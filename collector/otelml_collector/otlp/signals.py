"""The three OTLP signals and their message types, gRPC methods and HTTP paths."""

from __future__ import annotations

from enum import StrEnum

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_svc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_svc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_svc

__all__ = ["GRPC_METHODS", "GRPC_PATHS", "HTTP_PATHS", "REQUEST_TYPES", "RESPONSE_TYPES", "Signal"]


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: trace_svc.ExportTraceServiceRequest,
    Signal.METRICS: metrics_svc.ExportMetricsServiceRequest,
    Signal.LOGS: logs_svc.ExportLogsServiceRequest,
}
RESPONSE_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: trace_svc.ExportTraceServiceResponse,
    Signal.METRICS: metrics_svc.ExportMetricsServiceResponse,
    Signal.LOGS: logs_svc.ExportLogsServiceResponse,
}
GRPC_METHODS: dict[str, Signal] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": Signal.TRACES,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": Signal.METRICS,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": Signal.LOGS,
}
GRPC_PATHS: dict[Signal, str] = {signal: path for path, signal in GRPC_METHODS.items()}
HTTP_PATHS: dict[str, Signal] = {
    "/v1/traces": Signal.TRACES,
    "/v1/metrics": Signal.METRICS,
    "/v1/logs": Signal.LOGS,
}
