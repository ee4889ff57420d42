"""Finding 2 of issue 13: rejecting invalid items for a partial success is linear in the request.

Reproducer, scaled down: n empty spans (no ids: invalid) followed by n/10 valid ones. Deleting the
invalid ones one at a time from the repeated field was quadratic (1M + 100k took ~20 s of CPU).
The work is compared for n and 2n in the same process (CPU time, best of 3): linear work about
doubles, quadratic work about quadruples; the bound 3 separates the two without a wall-clock limit.
"""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from otelml_collector import otlp


def traces_body(n: int) -> bytes:
    req = trace_service_pb2.ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for _ in range(n):
        spans.add()
    for i in range(n // 10):
        spans.add(name=f"ok{i}", trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"))
    return req.SerializeToString()


def logs_body(n: int) -> bytes:
    req = logs_service_pb2.ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    for _ in range(n):
        records.add(trace_id=b"\x01")  # a 1-byte trace id: invalid
    for i in range(n // 10):
        records.add(severity_text=f"ok{i}")
    return req.SerializeToString()


def cpu_seconds(signal: otlp.Signal, body: bytes, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        decoded = otlp.decode(signal, body)
        best = min(best, time.process_time() - start)
        assert (decoded.items, decoded.rejected) == (n // 10, n)
    return best


@pytest.mark.parametrize(
    ("signal", "make"),
    [(otlp.Signal.TRACES, traces_body), (otlp.Signal.LOGS, logs_body)],
    ids=["traces", "logs"],
)
def test_rejecting_invalid_items_is_linear(signal, make):
    n = 100_000
    small, large = cpu_seconds(signal, make(n), n), cpu_seconds(signal, make(2 * n), 2 * n)
    assert large / small < 3.0, f"{n}: {small:.3f}s, {2 * n}: {large:.3f}s (quadratic would be ~4x)"


def test_the_valid_items_are_kept_in_order():
    decoded = otlp.decode(otlp.Signal.TRACES, traces_body(50))
    names = [s.name for rs in decoded.message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names == [f"ok{i}" for i in range(5)]
