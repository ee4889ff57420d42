"""The sidecar's own telemetry: its counters arrive downstream as OTLP metrics and on /metrics, and the
providers handed to processors export exemplars carrying the trace/span id of a real prediction."""

from __future__ import annotations

import pytest
import requests
from opentelemetry import context, trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc
from opentelemetry.sdk.metrics import SimpleFixedSizeExemplarReservoir
from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from otelml_collector.downstream import resolve_target
from otelml_collector.telemetry import Counters, build_providers
from prometheus_client.parser import text_string_to_metric_families

from tests.support import sidecar_config, wait_until


def latest_sum(sink, name: str) -> int | None:
    points = [p for m in list(sink.metrics) if m.name == name for p in m.sum.data_points]
    return points[-1].as_int if points else None


@pytest.mark.e2e
def test_counters_exported_as_otlp_metrics_and_prometheus(otlp_sink, sidecar, tmp_path):
    sc = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint))
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(7):
        scope.spans.add(name=f"s{i}", trace_id=b"\x03" * 16, span_id=(i + 1).to_bytes(8, "big"))
    resp = requests.post(
        sc.http_url + "/v1/traces",
        data=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert resp.status_code == 200
    requests.post(
        sc.http_url + "/v1/traces",
        data=b"junk",
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    arrived = len(otlp_sink.wait_spans(7))
    wait_until(
        lambda: latest_sum(otlp_sink, "otelml_collector.spans.forwarded") == arrived,
        timeout=15,
        what="otelml_collector.spans.forwarded == spans at the sink",
    )
    assert latest_sum(otlp_sink, "otelml_collector.spans.received") == 7

    status, text = sc.get("/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("otelml_collector_spans_received_total", ())] == 7
    assert samples[("otelml_collector_spans_forwarded_total", ())] == arrived
    refused = (("reason", "invalid_body"), ("signal", "traces"))
    assert samples[("otelml_collector_requests_refused_total", refused)] == 1
    # the OTel Collector's shapes: per receiver and transport, per exporter, queue, process
    http = (("receiver", "otlp"), ("transport", "http"))
    assert samples[("otelml_collector_receiver_accepted_spans_total", http)] == 7
    assert samples[("otelml_collector_exporter_sent_spans_total", (("exporter", "otlp"),))] == arrived
    assert samples[("otelml_collector_exporter_queue_capacity", (("exporter", "otlp"),))] == 1000
    assert samples[("otelml_collector_exporter_queue_size", (("exporter", "otlp"),))] == 0
    assert samples[("otelml_collector_process_memory_rss_bytes", ())] > 10 * 2**20
    assert samples[("otelml_collector_process_cpu_seconds_total", ())] > 0
    assert sc.counters()["spans"]["refused_requests"] == {"total": 1, "invalid_body": 1}
    health_status, health = sc.get("/healthz")
    assert (health_status, health) == (200, {"status": "ok"})
    missing_status, missing = sc.get("/v1/nope")
    assert missing_status == 404 and "/v1/status" in missing["routes"]


def test_gauge_exemplars_carry_the_prediction_trace_id(otlp_sink):
    target = resolve_target("metrics", {"endpoint": otlp_sink.endpoint, "protocol": "http/protobuf"})
    view = View(
        instrument_name="ml.feature.drift",
        exemplar_reservoir_factory=lambda agg: lambda **kw: SimpleFixedSizeExemplarReservoir(size=4, **kw),
    )
    meters, loggers = build_providers(target, None, export_interval_ms=60_000, views=[view])
    gauge = meters.get_meter("drift").create_gauge("ml.feature.drift")
    trace_id, span_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)))
    token = context.attach(trace.set_span_in_context(span))
    try:
        gauge.set(0.37, {"ml.feature.name": "income", "ml.drift.method": "psi"})
    finally:
        context.detach(token)
    assert meters.force_flush(10_000)
    metric = wait_until(
        lambda: next((m for m in otlp_sink.metrics if m.name == "ml.feature.drift"), None),
        what="ml.feature.drift at the sink",
    )
    point = metric.gauge.data_points[0]
    assert point.as_double == 0.37
    assert [(e.trace_id.hex(), e.span_id.hex()) for e in point.exemplars] == [
        (format(trace_id, "032x"), format(span_id, "016x"))
    ]
    meters.shutdown()
    loggers.shutdown()


def test_counters_snapshot_and_reasons():
    counters = Counters()
    counters.add("traces", "received", 5)
    counters.add("traces", "dropped", 2, "queue_full")
    counters.add("traces", "dropped", 1, "shutdown")
    counters.add("logs", "refused", 3, "invalid_item")
    counters.add("traces", "received", 0)  # no-op
    snap = counters.snapshot()
    assert snap["spans"]["received"] == 5
    assert snap["spans"]["dropped"] == {"total": 3, "queue_full": 2, "shutdown": 1}
    assert snap["log_records"]["refused"] == {"total": 3, "invalid_item": 3}
    assert counters.get("traces", "dropped") == 3 and counters.get("traces", "dropped", "shutdown") == 1
