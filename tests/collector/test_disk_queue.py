"""Disk-backed sending queue (`extensions.file_storage` + `sending_queue.storage`): spans the sidecar
acknowledged while its downstream was down survive a SIGKILL and a restart and are delivered once
the downstream is back; beyond the queue's bound clients are refused (and counted), not dropped.

Real components: the sidecar as a subprocess, the OTel SDK's OTLP exporters (HTTP and gRPC) as
clients, oteltap as the downstream. What is asserted: every span whose export call returned SUCCESS
arrives; the downstream was down from before the first span until after the restart, so nothing was
delivered before the kill and each span must arrive exactly once; refused batches do not arrive.
"""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import OtlpSink, SidecarProcess, sidecar_config, wait_until
from tests.support.net import free_port

pytestmark = pytest.mark.e2e

BATCH = 20
QUEUE_SIZE = 6  # requests on disk


def make_batches(count: int) -> list[list]:
    """`count` batches of `BATCH` finished SDK spans named b<batch>-s<i> (exported by hand below)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("disk-queue-test")
    for b in range(count):
        for i in range(BATCH):
            with tracer.start_as_current_span(f"b{b}-s{i}"):
                pass
    spans = memory.get_finished_spans()
    return [list(spans[b * BATCH : (b + 1) * BATCH]) for b in range(count)]


def durable_config(tmp_path, sink_port: int, processors: dict) -> dict:
    config = sidecar_config(
        tmp_path, downstream=f"http://127.0.0.1:{sink_port}", protocol="http/protobuf", processors=processors
    )
    config["extensions"] = {"file_storage": {"directory": str(tmp_path / "queue")}}
    config["service"]["extensions"] = ["file_storage"]
    config["service"]["telemetry"] = {"metrics": {"enabled": False}, "logs": {"enabled": False}}
    config["exporters"]["otlp"].update(
        {
            "sending_queue": {"storage": "file_storage", "queue_size": QUEUE_SIZE, "num_consumers": 2},
            "retry_on_failure": {
                "initial_interval": "100ms",
                "max_interval": "300ms",
                "max_elapsed_time": "0s",  # retry until delivered
            },
            "timeout": "1s",
        }
    )
    return config


@pytest.mark.parametrize("processors", [{}, {"ml_extract": {}}], ids=["forward-only", "with-processors"])
def test_acknowledged_spans_survive_outage_sigkill_and_restart(processors, tmp_path):
    sink_port = free_port()  # the downstream is down: nothing listens here yet
    config = durable_config(tmp_path, sink_port, processors)
    first = SidecarProcess(config, tmp_path / "run1").start()
    batches = make_batches(QUEUE_SIZE + 3)
    http = HttpSpanExporter(endpoint=first.http_url + "/v1/traces", timeout=1)
    grpc = GrpcSpanExporter(endpoint=first.grpc_endpoint, insecure=True, timeout=1)
    acked: list[str] = []
    refused: list[str] = []
    try:
        for b, batch in enumerate(batches):
            exporter = http if b % 2 == 0 else grpc
            result = exporter.export(batch)
            (acked if result is SpanExportResult.SUCCESS else refused).extend(s.name for s in batch)
        counters = first.counters()["spans"]
    finally:
        http.shutdown()
        grpc.shutdown()
        first.kill()  # SIGKILL: no shutdown, no drain
    assert len(acked) == QUEUE_SIZE * BATCH  # the queue's bound, in requests
    assert len(refused) == 3 * BATCH
    assert counters["refused"]["queue_full"] >= len(refused)  # SDK retries are refused (and counted) again
    assert counters.get("dropped", {}).get("total", 0) == 0

    second = SidecarProcess(config, tmp_path / "run2").start()
    sink = OtlpSink(sink_port).start()  # the downstream comes back after the restart
    try:
        wait_until(lambda: len(sink.spans) >= len(acked), 30, what=f"{len(acked)} spans at the sink")
        queue = lambda: second.status()["exporters"]["exporters.otlp"]  # noqa: E731
        wait_until(lambda: queue()["on_disk"] == 0, 10, what="an empty disk queue")
        arrived = Counter(sink.span_names())
        assert set(arrived) == set(acked)  # every acknowledged span, nothing refused
        assert max(arrived.values()) == 1  # nothing was in flight at the kill: exactly once
        assert second.counters()["spans"]["forwarded"] == len(acked)
        assert "left on disk by the previous run" in second.log()
    finally:
        second.stop()
        sink.stop()


def test_storage_must_name_an_enabled_file_storage(tmp_path):
    import yaml
    from otelml_collector.config import ConfigError, parse_config

    config = durable_config(tmp_path, free_port(), {})
    config["service"]["extensions"] = []
    with pytest.raises(ConfigError, match=r"otlp\.sending_queue\.storage: 'file_storage' is not an enabled"):
        parse_config(yaml.safe_dump(config), "sidecar.yaml")
    config["service"]["extensions"] = ["file_storage/other"]
    with pytest.raises(ConfigError, match=r"service\.extensions\[0\]: extension 'file_storage/other' is not"):
        parse_config(yaml.safe_dump(config), "sidecar.yaml")
