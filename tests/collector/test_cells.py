"""Cells (attributes, kvlist entries, array elements at every level) counted by the C check equal
the Python reference on the decoded message, and both equal a hand count."""

from __future__ import annotations

import random

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from otelml_collector.otlp import HAVE_FAST_SCAN, RequestTooManyCells, Signal, count_cells, decode
from otelml_collector.otlp.fastscan import check_traces_cells

from tests.collector.test_extraction_equivalence import request_bytes


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def hand_counted() -> tuple[ExportTraceServiceRequest, int]:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", AnyValue(string_value="a")))  # 1
    ss = rs.scope_spans.add()
    ss.scope.attributes.append(kv("scope", AnyValue(bool_value=True)))  # 1
    span = ss.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s")
    span.attributes.append(kv("x", AnyValue(double_value=1.5)))  # 1
    arr = AnyValue()
    for i in range(5):
        arr.array_value.values.add().int_value = i
    span.attributes.append(kv("arr", arr))  # 1 + 5
    nested = AnyValue()
    nested.kvlist_value.values.append(kv("a", AnyValue(int_value=1)))
    inner = nested.kvlist_value.values.add(key="b")
    inner.value.array_value.values.add().string_value = "z"
    span.attributes.append(kv("map", nested))  # 1 + 2 entries + 1 element
    span.events.add(name="e").attributes.append(kv("k", AnyValue()))  # 1 (no value still counts)
    span.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8).attributes.append(kv("l", AnyValue()))  # 1
    return req, 1 + 1 + 1 + 6 + 4 + 1 + 1


def test_cells_equal_a_hand_count_in_c_and_python() -> None:
    req, expected = hand_counted()
    assert count_cells(Signal.TRACES, req) == expected
    if HAVE_FAST_SCAN:
        assert check_traces_cells(req.SerializeToString()) == (1, 0, expected)
    assert decode(Signal.TRACES, req.SerializeToString(), max_cells=None).cells == expected


@pytest.mark.skipif(not HAVE_FAST_SCAN, reason="C accelerator not built")
@pytest.mark.parametrize("seed", range(100))
def test_c_cells_equal_the_python_reference_on_generated_requests(seed: int) -> None:
    raw = request_bytes(random.Random(9000 + seed))
    checked = check_traces_cells(raw)
    assert checked is not None
    assert checked[2] == count_cells(Signal.TRACES, ExportTraceServiceRequest.FromString(raw))


def test_limit_refuses_over_protobuf_c_python_and_json() -> None:
    req, cells = hand_counted()
    raw = req.SerializeToString()
    assert decode(Signal.TRACES, raw, max_cells=cells).cells == cells
    with pytest.raises(RequestTooManyCells, match=f"has {cells} cells, over the limit of {cells - 1}"):
        decode(Signal.TRACES, raw, max_cells=cells - 1)
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add()
    for i in range(10):
        record.body.array_value.values.add().int_value = i
    assert decode(Signal.LOGS, logs.SerializeToString(), max_cells=10).cells == 10
    with pytest.raises(RequestTooManyCells):
        decode(Signal.LOGS, logs.SerializeToString(), max_cells=9)
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[%s]}}}]}]}]}'
    values = b",".join(b'{"intValue":"1"}' for _ in range(1000))
    assert decode(Signal.LOGS, body % values, json_body=True, max_cells=1000).cells == 1000
    with pytest.raises(RequestTooManyCells, match="over the limit of 999 cells"):
        decode(Signal.LOGS, body % values, json_body=True, max_cells=999)
    with pytest.raises(RequestTooManyCells, match="more than 200 JSON objects, over the limit of 100 cells"):
        decode(Signal.LOGS, body % values, json_body=True, max_cells=100)  # stopped while parsing
