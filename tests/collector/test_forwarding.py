"""Forwarding end to end: the OTel SDK's OTLP exporters send to the sidecar (subprocess), which
forwards to real third-party receivers: Arize Phoenix for traces (over gRPC and over HTTP), oteltap
for metrics and logs. Every span must arrive with its attributes, ids and parent links."""

from __future__ import annotations

import logging
import uuid

import pytest
from grpc import Compression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.support import sidecar_config, wait_until

pytestmark = pytest.mark.e2e


def inference_attributes(i: int) -> dict[str, object]:
    return {
        "ml.operation.name": "inference",
        "ml.model.name": "credit",
        "ml.model.version": "3",
        "ml.feature.income": 1000.5 + i,
        "ml.feature.age": 20 + i,
        "ml.feature.is_member": i % 2 == 0,
        "ml.feature.region": ["eu", "us", "apac"][i % 3],
        "ml.feature.history": [0.25 * i, 0.5, 1.0],
        "ml.prediction.value": i % 2,
        "ml.prediction.score": 0.125 * (i % 8),
        "ml.prediction.id": f"pred-{i}",
    }


def send_spans(exporter, project: str, n: int) -> dict[str, dict[str, object]]:
    """n predictions (root `predict` + child `inference credit` span); returns span_id -> expectations."""
    resource = Resource.create({"service.name": "svc", "openinference.project.name": project})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=16))
    tracer = provider.get_tracer("test")
    expected: dict[str, dict[str, object]] = {}
    for i in range(n):
        attributes = inference_attributes(i)
        with (
            tracer.start_as_current_span("predict") as root,
            tracer.start_as_current_span("inference credit", attributes=attributes) as child,
        ):
            pass
        ctx, rctx = child.get_span_context(), root.get_span_context()
        expected[format(ctx.span_id, "016x")] = {
            "name": "inference credit",
            "trace_id": format(ctx.trace_id, "032x"),
            "parent": format(rctx.span_id, "016x"),
            "attributes": inference_attributes(i),
        }
        expected[format(rctx.span_id, "016x")] = {
            "name": "predict",
            "trace_id": format(rctx.trace_id, "032x"),
            "parent": None,
            "attributes": {},
        }
    assert provider.force_flush(10_000)
    provider.shutdown()
    return expected


def assert_arrived(phoenix, project: str, expected: dict[str, dict[str, object]]) -> None:
    spans = wait_until(
        lambda: (s := phoenix.spans(project)) and len(s) >= len(expected) and s,
        timeout=30,
        what=f"{len(expected)} spans in Phoenix project {project}",
    )
    by_id = {s["context"]["span_id"]: s for s in spans}
    assert len(spans) == len(expected)  # nothing duplicated
    for span_id, want in expected.items():
        got = by_id[span_id]
        assert got["name"] == want["name"]
        assert got["context"]["trace_id"] == want["trace_id"]
        assert got["parent_id"] == want["parent"]
        attrs = dict(got["attributes"])
        for key, value in want["attributes"].items():  # type: ignore[union-attr]
            assert attrs.pop(key) == value, key
        assert not {k for k in attrs if k.startswith("ml.")}, attrs  # nothing invented


def test_grpc_in_grpc_out_to_phoenix(phoenix, sidecar, tmp_path):
    config = sidecar_config(tmp_path, downstream=phoenix.grpc_endpoint, protocol="grpc")
    config["exporters"]["otlp"]["compression"] = "gzip"  # gzip both ways: client -> sidecar -> Phoenix
    sc = sidecar(config)
    project = f"fwd-grpc-{uuid.uuid4().hex[:8]}"
    expected = send_spans(
        GrpcSpanExporter(endpoint=sc.grpc_endpoint, insecure=True, compression=Compression.Gzip), project, 40
    )
    assert_arrived(phoenix, project, expected)
    counters = sc.counters()["spans"]
    assert counters["received"] == 80 and counters["forwarded"] == 80
    assert counters["dropped"]["total"] == 0


def test_http_in_http_out_to_phoenix_with_extraction_on(phoenix, sidecar, tmp_path):
    config = sidecar_config(
        tmp_path, downstream=phoenix.http_url, protocol="http/protobuf", processors={"ml_extract": {}}
    )
    sc = sidecar(config)
    project = f"fwd-http-{uuid.uuid4().hex[:8]}"
    expected = send_spans(HttpSpanExporter(endpoint=sc.http_url + "/v1/traces"), project, 40)
    assert_arrived(phoenix, project, expected)
    status = sc.status()
    assert status["pipelines"]["traces"]["processors"] == ["ml_extract"]
    assert status["pipelines"]["traces"]["processor_errors"] == {}
    assert status["counters"]["spans"]["forwarded"] == 80


def test_metrics_and_logs_reach_otlp_sink(otlp_sink, sidecar, tmp_path):
    sc = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint, protocol="http/protobuf"))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=sc.http_url + "/v1/metrics"), export_interval_millis=60_000
    )
    meters = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    counter = meters.get_meter("test").create_counter("predictions.total")
    for value in (3, 4, 5):
        counter.add(value, {"model": "credit"})
    assert meters.force_flush(10_000)
    meters.shutdown()

    loggers = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    log_exporter = OTLPLogExporter(endpoint=sc.http_url + "/v1/logs")
    loggers.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))

    log = logging.getLogger("forwarding-test")
    log.propagate = False
    log.addHandler(LoggingHandler(logger_provider=loggers))
    log.warning("drift on %s", "income", extra={"ml.model.name": "credit"})
    loggers.shutdown()

    metric = wait_until(
        lambda: next((m for m in otlp_sink.metrics if m.name == "predictions.total"), None),
        what="metric predictions.total at the sink",
    )
    assert metric.sum.data_points[0].as_int == 12
    record = wait_until(
        lambda: next((r for r in otlp_sink.logs if r.body.string_value == "drift on income"), None),
        what="log record at the sink",
    )
    assert record.severity_text == "WARN"
    assert {a.key: a.value.string_value for a in record.attributes}["ml.model.name"] == "credit"
    counters = sc.counters()
    assert counters["metric_points"]["forwarded"] >= 1
    assert counters["log_records"]["received"] == 1 and counters["log_records"]["forwarded"] == 1
