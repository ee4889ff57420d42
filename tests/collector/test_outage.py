"""Downstream outage: the sidecar keeps accepting, retries with backoff, delivers once the downstream
is back, and counts what did not fit in its sending queue (real sidecar, oteltap downstream)."""

from __future__ import annotations

import time

import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as svc

from tests.support import OtlpSink, sidecar_config, wait_until

pytestmark = pytest.mark.e2e


def request_bytes(batch: int, n: int = 10) -> bytes:
    req = svc.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        scope.spans.add(
            name=f"b{batch}-s{i}",
            trace_id=(batch + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
        )
    return req.SerializeToString()


def send(sc, batch: int) -> int:
    resp = requests.post(
        sc.http_url + "/v1/traces",
        data=request_bytes(batch),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert resp.status_code in (200, 503), resp.text
    if resp.status_code == 503:
        assert int(resp.headers["Retry-After"]) >= 1
    return resp.status_code


def outage_config(tmp_path, port: int, **exporter: object) -> dict:
    config = sidecar_config(tmp_path, downstream=f"http://127.0.0.1:{port}", protocol="http/protobuf")
    settings = {
        "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "60s"},
        "sending_queue": {"queue_size": 2, "num_consumers": 1},
        "timeout": "2s",
    }
    config["exporters"]["otlp"].update({**settings, **exporter})
    config["service"]["telemetry"] = {"metrics": {"enabled": False}}  # only our spans go to the sink
    return config


@pytest.mark.parametrize("processors", [{"ml_extract": {}}, {}], ids=["with-processors", "forward-only"])
def test_spans_sent_during_outage_arrive_after_restart_and_overflow_is_counted(processors, sidecar, tmp_path):
    """With processors the overflow was already processed, so it is dropped and counted; forward-only,
    nothing has seen it yet, so the client is refused with a retry hint (and keeps the data)."""
    sink = OtlpSink().start()
    port = sink.port
    config = outage_config(tmp_path, port)
    config["processors"] = processors
    sc = sidecar(config)
    assert send(sc, 0) == 200
    sink.wait_spans(10)
    sink.stop()  # downstream outage

    assert send(sc, 1) == 200  # taken by the single sender, retried while the downstream is down
    wait_until(
        lambda: sc.status()["exporters"]["exporters.otlp"]["in_flight"] == 1, what="an export in flight"
    )
    codes = [send(sc, batch) for batch in range(2, 11)]  # 2 fit in the sending queue, 7 overflow
    spans = wait_until(
        lambda: (c := sc.counters()["spans"])["dropped"]["total"] + c["refused"]["total"] == 70 and c,
        what="70 spans over the sending queue's capacity counted",
    )
    assert sc.status()["exporters"]["exporters.otlp"]["requests"] == 2
    if processors:
        assert codes == [200] * 9  # accepted: the processors have seen these spans
        assert spans["dropped"] == {"total": 70, "queue_full": 70}
        assert spans["received"] == 110
    else:
        assert codes == [200, 200] + [503] * 7
        assert spans["refused"] == {"total": 70, "queue_full": 70}
        assert spans["dropped"]["total"] == 0 and spans["received"] == 40

    restarted = OtlpSink(port).start()  # the downstream comes back on the same port
    try:
        arrived = restarted.wait_spans(30, timeout=20)
        assert {s.name for s in arrived} == {f"b{b}-s{i}" for b in (1, 2, 3) for i in range(10)}
        wait_until(lambda: sc.counters()["spans"]["forwarded"] == 40, what="40 spans forwarded")
        assert sc.stop() == 0
        reason_logged = (
            "dropped 10 traces (queue_full)"
            if processors
            else "queue full (processors behind, or downstream slow or down): refusing"
        )
        assert sc.log().count(reason_logged) == 1  # said once
    finally:
        restarted.stop()


def test_retries_give_up_after_max_elapsed_time_and_count_it(sidecar, tmp_path):
    from tests.support import free_port

    dead = free_port()  # nothing listens here
    sc = sidecar(
        outage_config(
            tmp_path,
            dead,
            retry_on_failure={"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "1s"},
        )
    )
    send(sc, 0)
    counters = wait_until(
        lambda: (c := sc.counters())["spans"]["dropped"]["total"] == 10 and c,
        timeout=15,
        what="10 spans dropped after retries",
    )
    assert counters["spans"]["dropped"]["retries_exhausted"] == 10
    assert counters["spans"]["forwarded"] == 0
    assert "retries_exhausted" in sc.log()


def test_permanent_downstream_error_is_not_retried_and_is_counted(otlp_sink, sidecar, tmp_path):
    config = outage_config(tmp_path, otlp_sink.port, traces_endpoint=f"{otlp_sink.endpoint}/v1/wrong-path")
    sc = sidecar(config)
    assert send(sc, 0) == 200
    counters = wait_until(
        lambda: (c := sc.counters())["spans"]["dropped"]["total"] == 10 and c, what="10 spans dropped"
    )
    assert counters["spans"]["dropped"] == {"total": 10, "rejected": 10}  # 404: no retries
    assert "HTTP 404" in sc.log()
    assert otlp_sink.spans == []


def test_grpc_downstream_outage_reconnects_and_delivers(otlp_sink, sidecar, tmp_path):
    """Sidecar A forwards over gRPC to sidecar B (which forwards to the sink); B goes away and comes
    back on the same port: A's retries reconnect and deliver everything once."""
    b_config = sidecar_config(tmp_path / "b", downstream=otlp_sink.endpoint, protocol="http/protobuf")
    b_config["service"]["telemetry"] = {"metrics": {"enabled": False}}
    b = sidecar(b_config)
    a_config = outage_config(tmp_path / "a", 0)
    a_config["exporters"]["otlp"].update(endpoint=f"http://{b.grpc_endpoint}", protocol="grpc")
    a = sidecar(a_config)
    assert send(a, 0) == 200
    otlp_sink.wait_spans(10)
    assert b.stop() == 0  # downstream outage
    assert send(a, 1) == 200
    wait_until(lambda: a.status()["exporters"]["exporters.otlp"]["in_flight"] == 1, what="A retrying")
    time.sleep(1.5)  # several failed attempts while B is down
    sidecar(b_config)  # B is back, same ports
    spans = otlp_sink.wait_spans(20, timeout=20)
    assert sorted(s.name for s in spans) == sorted(f"b{n}-s{i}" for n in (0, 1) for i in range(10))
    counters = wait_until(
        lambda: (c := a.counters()["spans"])["forwarded"] == 20 and c, what="A forwarded 20"
    )
    assert counters["dropped"]["total"] == 0
