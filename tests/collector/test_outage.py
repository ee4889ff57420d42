"""Downstream outage: the sidecar keeps accepting, retries with backoff, delivers once the downstream
is back, and counts what did not fit in its sending queue (real sidecar, oteltap downstream)."""

from __future__ import annotations

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


def send(sc, batch: int) -> None:
    resp = requests.post(
        sc.http_url + "/v1/traces",
        data=request_bytes(batch),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


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


def test_spans_sent_during_outage_arrive_after_restart_and_overflow_is_counted(sidecar, tmp_path):
    sink = OtlpSink().start()
    port = sink.port
    sc = sidecar(outage_config(tmp_path, port))
    send(sc, 0)
    sink.wait_spans(10)
    sink.stop()  # downstream outage

    send(sc, 1)  # taken by the single worker, retried while the downstream is down
    wait_until(
        lambda: sc.status()["exporters"]["exporters.otlp"]["in_flight"] == 1, what="an export in flight"
    )
    for batch in range(2, 11):  # 2 fit in the queue, 7 overflow
        send(sc, batch)
    status = sc.status()
    assert status["exporters"]["exporters.otlp"]["requests"] == 2
    assert status["counters"]["spans"]["dropped"] == {"total": 70, "queue_full": 70}
    assert status["counters"]["spans"]["received"] == 110  # the client was never refused

    restarted = OtlpSink(port).start()  # the downstream comes back on the same port
    try:
        spans = restarted.wait_spans(30, timeout=20)
        names = {s.name for s in spans}
        assert names == {f"b{b}-s{i}" for b in (1, 2, 3) for i in range(10)}
        counters = wait_until(
            lambda: (c := sc.counters())["spans"]["forwarded"] == 40 and c, what="40 spans forwarded"
        )
        assert counters["spans"]["dropped"]["total"] == 70
        assert sc.stop() == 0
        assert "dropped 10 traces (queue_full)" in sc.log()  # said once, with the reason
        assert sc.log().count("(queue_full)") == 1
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
