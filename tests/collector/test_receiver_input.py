"""The OTLP receiver answers bad input correctly and keeps working: each malformed request gets the
right status, and the next good request is still accepted and forwarded (real sidecar subprocess,
oteltap as the downstream)."""

from __future__ import annotations

import gzip
import json

import grpc
import pytest
import requests
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.support import OtlpSink, SidecarProcess, sidecar_config, wait_until

pytestmark = pytest.mark.e2e

TRACE_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def make_request(n: int, name: str = "good", trace_id: bytes = b"\x01" * 16) -> svc.ExportTraceServiceRequest:
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        span = scope.spans.add(name=f"{name}-{i}", trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"))
        span.attributes.append(common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=i)))
    return req


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One sidecar for the module (tests compare counter deltas); oteltap downstream."""
    tmp = tmp_path_factory.mktemp("receiver-input")
    sink = OtlpSink().start()
    config = sidecar_config(tmp, downstream=sink.endpoint)
    config["receivers"]["otlp"]["protocols"]["http"]["max_request_body_size_mib"] = 1
    config["receivers"]["otlp"]["protocols"]["grpc"]["max_recv_msg_size_mib"] = 1
    sc = SidecarProcess(config, tmp).start()
    try:
        yield sc, sink
    finally:
        try:
            assert sc.stop() == 0
        finally:
            sc.kill()
            sink.stop()


def spans(sc, key: str, reason: str | None = None) -> int:
    value = sc.counters()["spans"][key]
    return value.get(reason, 0) if reason else value


def post(sc, body: bytes, ctype: str = "application/x-protobuf", **headers: str) -> requests.Response:
    return requests.post(
        sc.http_url + "/v1/traces", data=body, headers={"Content-Type": ctype, **headers}, timeout=10
    )


def assert_still_works(sc, sink, name: str) -> None:
    resp = post(sc, make_request(2, name).SerializeToString())
    assert resp.status_code == 200, resp.text
    wait_until(
        lambda: {f"{name}-0", f"{name}-1"} <= set(sink.span_names()), what=f"spans {name}-* downstream"
    )


def rpc_status(resp: requests.Response) -> status_pb2.Status:
    assert resp.headers["Content-Type"].startswith("application/x-protobuf")
    return status_pb2.Status.FromString(resp.content)


def test_http_garbage_truncated_and_wrong_type(running):
    sc, sink = running
    before = spans(sc, "received")
    garbage = post(sc, b"\xff\xfe this is not protobuf \x00\x01")
    assert garbage.status_code == 400
    assert "not a valid protobuf ExportTraceServiceRequest" in rpc_status(garbage).message

    whole = make_request(3).SerializeToString()
    truncated = post(sc, whole[: len(whole) - 7])
    assert truncated.status_code == 400

    wrong = post(sc, whole, ctype="text/plain")
    assert wrong.status_code == 415
    assert "Content-Type must be application/x-protobuf or application/json" in rpc_status(wrong).message

    bad_encoding = post(sc, whole, **{"Content-Encoding": "br"})
    assert bad_encoding.status_code == 415
    assert_still_works(sc, sink, "after-http-garbage")
    assert spans(sc, "received") - before == 2  # nothing from the bad requests was accepted


def test_http_json_valid_and_invalid(running):
    sc, sink = running
    invalid = post(sc, b'{"resourceSpans": [', ctype="application/json")
    assert invalid.status_code == 400
    assert invalid.headers["Content-Type"].startswith("application/json")
    assert "not valid JSON" in invalid.json()["message"]

    not_otlp = post(
        sc,
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": "abc"}]}]}).encode(),
        ctype="application/json",
    )
    assert not_otlp.status_code == 400
    assert "not a valid OTLP ExportTraceServiceRequest" in not_otlp.json()["message"]

    no_ids = post(
        sc,
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no-ids"}]}]}]}).encode(),
        ctype="application/json",
    )
    assert no_ids.status_code == 200
    assert no_ids.json()["partialSuccess"]["rejectedSpans"] == "1"  # int64 is a string in OTLP/JSON

    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "json-span",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [{"key": "ml.feature.x", "value": {"doubleValue": 1.5}}],
                                "unknownFieldFromTheFuture": 1,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    ok = post(sc, json.dumps(doc).encode(), ctype="application/json")
    assert ok.status_code == 200, ok.text
    assert ok.json() == {}
    span = wait_until(
        lambda: next((s for s in list(sink.spans) if s.name == "json-span"), None), what="json-span"
    )
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert [(a.key, a.value.double_value) for a in span.attributes] == [("ml.feature.x", 1.5)]


def test_http_oversized_and_gzip_bomb(running):
    sc, sink = running
    before = spans(sc, "received")
    big = make_request(1, name="x" * (2 * 1024 * 1024)).SerializeToString()  # 2 MiB > 1 MiB limit
    too_large = post(sc, big)
    assert too_large.status_code == 413
    assert "max_request_body_size_mib" in rpc_status(too_large).message

    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)  # ~64 KiB inflating to 64 MiB
    assert len(bomb) < 1024 * 1024
    exploded = post(sc, bomb, **{"Content-Encoding": "gzip"})
    assert exploded.status_code == 413
    assert "decompressed body exceeds" in rpc_status(exploded).message

    not_gzip = post(sc, b"definitely not gzip", **{"Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400

    good = gzip.compress(make_request(2, "gzipped").SerializeToString())
    assert post(sc, good, **{"Content-Encoding": "gzip"}).status_code == 200
    assert_still_works(sc, sink, "after-bomb")
    assert spans(sc, "received") - before == 4
    assert "gzipped-0" in sink.span_names()


def test_partial_success_rejects_only_invalid_spans(running):
    sc, sink = running
    received, invalid = spans(sc, "received"), spans(sc, "refused", "invalid_item")
    req = make_request(3, "mixed")
    req.resource_spans[0].scope_spans[0].spans.add(
        name="bad-trace-id", trace_id=b"\x01\x02", span_id=b"\x01" * 8
    )
    req.resource_spans[0].scope_spans[0].spans.add(
        name="zero-span-id", trace_id=b"\x01" * 16, span_id=b"\x00" * 8
    )
    resp = post(sc, req.SerializeToString())
    assert resp.status_code == 200
    answer = svc.ExportTraceServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 2
    assert "trace_id" in answer.partial_success.error_message
    wait_until(lambda: {"mixed-0", "mixed-1", "mixed-2"} <= set(sink.span_names()), what="mixed-* spans")
    assert not set(sink.span_names()) & {"bad-trace-id", "zero-span-id"}
    assert spans(sc, "received") - received == 3
    assert spans(sc, "refused", "invalid_item") - invalid == 2


def test_overlong_varint_is_refused_over_http_and_grpc(running):
    """Issue 13 finding 5: ten valid spans, then a ResourceSpans whose length takes 6 bytes. Protobuf
    rejects the whole body, so the client must hear 400 / INVALID_ARGUMENT, not 200 and a silent drop."""
    sc, sink = running
    received = spans(sc, "received")
    body = make_request(10, "overlong").SerializeToString() + bytes.fromhex("0a808080808000")
    with pytest.raises(DecodeError):
        svc.ExportTraceServiceRequest.FromString(body)
    resp = post(sc, body)
    assert resp.status_code == 400, resp.text
    assert "not a valid protobuf ExportTraceServiceRequest" in rpc_status(resp).message
    with grpc.insecure_channel(sc.grpc_endpoint) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary(TRACE_PATH)(body, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert spans(sc, "received") == received
    assert_still_works(sc, sink, "after-overlong")
    assert not any(name.startswith("overlong-") for name in sink.span_names())


def test_grpc_garbage_oversized_then_good(running):
    sc, sink = running
    forwarded = spans(sc, "forwarded")
    with grpc.insecure_channel(sc.grpc_endpoint) as channel:
        export = channel.unary_unary(TRACE_PATH)
        with pytest.raises(grpc.RpcError) as garbage:
            export(b"\xff\xff\xff garbage", timeout=10)
        assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf" in garbage.value.details()

        whole = make_request(3).SerializeToString()
        with pytest.raises(grpc.RpcError) as truncated:
            export(whole[:-5], timeout=10)
        assert truncated.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        big = make_request(1, name="y" * (2 * 1024 * 1024)).SerializeToString()
        with pytest.raises(grpc.RpcError) as too_large:
            export(big, timeout=10)
        assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        answer = svc.ExportTraceServiceResponse.FromString(
            export(make_request(2, "grpc-ok").SerializeToString(), timeout=10)
        )
        assert not answer.HasField("partial_success")
    wait_until(lambda: {"grpc-ok-0", "grpc-ok-1"} <= set(sink.span_names()), what="grpc-ok spans downstream")
    wait_until(lambda: spans(sc, "forwarded") - forwarded == 2, what="2 more spans forwarded")


def test_http_json_logs_and_metrics_with_hex_ids(running):
    sc, sink = running
    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "severityNumber": 13,
                                "severityText": "WARN",
                                "body": {"stringValue": "json-alert"},
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    resp = requests.post(
        sc.http_url + "/v1/logs",
        data=json.dumps(logs),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 200 and resp.json() == {}
    record = wait_until(
        lambda: next((r for r in list(sink.logs) if r.body.string_value == "json-alert"), None),
        what="json-alert log record downstream",
    )
    assert (record.trace_id.hex(), record.span_id.hex()) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )
    assert record.severity_number == 13

    metrics = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "json.gauge",
                                "gauge": {
                                    "dataPoints": [
                                        {
                                            "asDouble": 0.25,
                                            "timeUnixNano": "1700000000000000000",
                                            "exemplars": [
                                                {
                                                    "asDouble": 0.25,
                                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                                    "spanId": "eee19b7ec3c1b174",
                                                }
                                            ],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    resp = requests.post(
        sc.http_url + "/v1/metrics",
        data=json.dumps(metrics),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 200
    metric = wait_until(
        lambda: next((m for m in list(sink.metrics) if m.name == "json.gauge"), None),
        what="json.gauge downstream",
    )
    exemplar = metric.gauge.data_points[0].exemplars[0]
    assert (exemplar.trace_id.hex(), exemplar.span_id.hex()) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
    )

    bad_id = dict(logs)
    bad_id["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "not-hex"
    resp = requests.post(
        sc.http_url + "/v1/logs",
        data=json.dumps(bad_id),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and "traceId: expected a hex string" in resp.json()["message"]


def _nested_kvlist(depth: int) -> dict:
    value: dict = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    span = {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "deep",
            "attributes": [{"key": "nested", "value": value}]}
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_http_json_nesting_is_bounded_like_protobuf(running):
    """What the JSON receiver accepts a protobuf decoder downstream accepts too; deeper is a 400 naming the
    limit, and a 5,000-deep body is a 400, not a 500 with a traceback."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from otelml_collector import otlp
    from otelml_collector.pipeline import Signal

    sc, sink = running
    verdicts = {}
    for depth in range(25, 40):
        body = json.dumps(_nested_kvlist(depth)).encode()
        try:
            message = otlp.decode(Signal.TRACES, body, json_body=True).message
        except otlp.InvalidRequest as exc:
            assert "nested deeper than 100 levels" in str(exc)
            verdicts[depth] = False
            continue
        try:
            ExportTraceServiceRequest.FromString(message.SerializeToString())
            verdicts[depth] = True
        except DecodeError:
            verdicts[depth] = "accepted but protobuf refuses"
    assert set(verdicts.values()) == {True, False}, verdicts  # both sides of the limit were seen
    deepest_ok = max(d for d, ok in verdicts.items() if ok is True)
    assert all(ok is (d <= deepest_ok) for d, ok in verdicts.items()), verdicts

    too_deep = post(sc, json.dumps(_nested_kvlist(deepest_ok + 1)).encode(), ctype="application/json")
    assert too_deep.status_code == 400 and "nested deeper than 100 levels" in too_deep.json()["message"]
    bomb = post(sc, b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}", ctype="application/json")
    assert bomb.status_code == 400, bomb.text
    assert "nested deeper than the OTLP limit" in bomb.json()["message"]
    assert "Traceback" not in sc.log()
    assert_still_works(sc, sink, "after-deep-json")
