"""Issue 13 finding 1, "one long string -> gigabytes", through a real sidecar subprocess.

After 300 normal predictions one span carries a 512 KiB `ml.feature.note`. Before the fix the drift
warm-up buffer was checkpointed as a fixed-width str array (4 bytes x longest string x rows): the
sidecar grew by ~1.8 GiB and `state.db` to 1.2 GB. Now `ml_extract.max_string_bytes` cuts the value
once, the cut is counted, memory and `state.db` stay small and drift still works for the others.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.support import sidecar_config, wait_until

MODEL = "credit"
WARMUP, WINDOW = 400, 300
MIB = 1024 * 1024


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def _state_bytes(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("state.db*"))


def _capped(sink) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Latest `otelml_collector.extract.capped` per cap, from the sidecar's own metrics at the sink."""
    out: dict[str, int] = {}
    for metric in list(sink.metrics):
        if metric.name == "otelml_collector.extract.capped":
            for p in metric.sum.data_points:
                cap = {a.key: a.value.string_value for a in p.attributes}.get("cap", "")
                out[cap] = max(out.get(cap, 0), p.as_int)
    return out


class _Client:
    def __init__(self, endpoint: str) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "credit-api"}))
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True), schedule_delay_millis=50)
        )
        self.tracer = self.provider.get_tracer("credit-api")
        self.rng = np.random.default_rng(13)

    def predict(self, n: int, shift: float = 0.0, note: str | None = None) -> None:
        for _ in range(n):
            attrs = {
                "ml.operation.name": "inference",
                "ml.model.name": MODEL,
                "ml.model.version": "1",
                "ml.feature.x": float(self.rng.normal(shift, 1.0)),
                "ml.feature.plan": str(self.rng.choice(["free", "pro", "team"])),
                "ml.feature.note": note if note is not None else f"n{self.rng.integers(5)}",
            }
            with self.tracer.start_as_current_span(f"inference {MODEL}", attributes=attrs):
                pass
        assert self.provider.force_flush(30_000)


def test_one_long_string_costs_at_most_max_string_bytes(otlp_sink, sidecar, tmp_path):  # type: ignore[no-untyped-def]
    config = sidecar_config(
        tmp_path,
        downstream=otlp_sink.endpoint,
        processors={
            "ml_extract": {},
            "drift": {
                "baseline": {"warmup": WARMUP},
                "window": {"size": WINDOW, "seconds": 0},
                "checkpoint_seconds": 0.5,
            },
        },
    )
    sc = sidecar(config)
    state_dir = tmp_path / "state"
    client = _Client(sc.grpc_endpoint)
    try:
        client.predict(300)
        time.sleep(1.5)  # processed and checkpointed
        before = _rss_mib(sc.proc.pid)

        client.predict(1, note="é" + "x" * (512 * 1024))  # 512 KiB, starting with a 2-byte character
        time.sleep(2.0)  # several checkpoints of the warm-up buffer holding the long value
        grown = _rss_mib(sc.proc.pid) - before
        assert grown < 100, f"sidecar RSS grew by {grown:.0f} MiB after one 512 KiB string"
        assert _state_bytes(state_dir) < 20 * MIB

        client.predict(WARMUP - 301)  # warm-up complete: the baseline is built
        client.predict(WINDOW, shift=3.0)  # x shifts, plan and note do not

        def drift_rows() -> list[dict]:
            status, answer = sc.get(f"/v1/drift?model={MODEL}")
            return answer.get("drift", []) if status == 200 and isinstance(answer, dict) else []

        wait_until(lambda: any(r["feature"] == "x" for r in drift_rows()), 30, what="a closed drift window")
        rows = drift_rows()
        assert {r["feature"] for r in rows if r["drifted"]} == {"x"}, json.dumps(rows)[:2000]
        assert {"plan", "note"} <= {r["feature"] for r in rows}
    finally:
        client.provider.shutdown()

    # the span itself is forwarded as sent: only the extracted records are cut
    notes = {
        len({a.key: a.value for a in s.attributes}["ml.feature.note"].string_value)
        for s in otlp_sink.wait_spans(WARMUP + WINDOW)
    }
    assert max(notes) == 512 * 1024 + 1
    wait_until(
        lambda: _capped(otlp_sink).get("strings") == 1, 20, what="capped{cap=strings} == 1 at the sink"
    )
    assert sc.stop() == 0
    assert _state_bytes(state_dir) < 20 * MIB
    log = sc.log()
    assert log.count("processors.ml_extract.max_string_bytes=256 reached") == 1, log[-3000:]
