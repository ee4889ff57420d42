"""Partial success for logs and metrics: invalid items are removed and counted, valid ones kept."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otelml_collector.otlp import decode
from otelml_collector.pipeline import Signal


def test_log_records_with_malformed_ids_are_rejected_and_counted() -> None:
    req = ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    records.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8).body.string_value = "ok-correlated"
    records.add().body.string_value = "ok-uncorrelated"
    records.add(trace_id=b"\x01" * 3).body.string_value = "bad-trace"
    records.add(span_id=b"\x01" * 9).body.string_value = "bad-span"
    decoded = decode(Signal.LOGS, req.SerializeToString())
    assert (decoded.items, decoded.rejected) == (2, 2)
    assert "trace_id" in decoded.reason
    kept = decoded.message.resource_logs[0].scope_logs[0].log_records
    assert [r.body.string_value for r in kept] == ["ok-correlated", "ok-uncorrelated"]


def test_unnamed_metrics_are_rejected_by_their_data_points() -> None:
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    good = metrics.add(name="requests")
    good.sum.data_points.add(as_int=1)
    bad = metrics.add(name="")
    bad.gauge.data_points.add(as_double=1.0)
    bad.gauge.data_points.add(as_double=2.0)
    metrics.add(name="")  # no data at all: removed, nothing to count
    decoded = decode(Signal.METRICS, req.SerializeToString())
    assert decoded.rejected == 2 and decoded.reason == "metrics need a name"
    assert [m.name for m in decoded.message.resource_metrics[0].scope_metrics[0].metrics] == ["requests"]
    assert decoded.items == 1
