"""Sidecar memory over millions of distinct predictions with late labels: is RSS bounded by configuration?

    .venv/bin/python benchmarks/bench_memory.py [--predictions 10000000] [--steps 10]
        [--config performance|all] [--label-share 0.5] [--label-lag 40]

One sidecar (`python -m otelml_collector`, defaults of every processor: `performance` keeps 48 windows of
1,000 predictions per model/version and at most 100,000 pending labels; `predictions` its store's
retention) receives `--predictions` inference spans over OTLP/gRPC, each with its own prediction id (the
ids of bench_sidecar's 512-span requests rewritten in place per request, so no two are alike), and
labels for `--label-share` of them `--label-lag` requests later (`label churn` spans, 256 per request),
forwarding all of it to a local gRPC sink. RSS is read from /proc after each of `--steps` equal parts,
once the sink has everything sent so far. Configurations: `performance` = ml_extract + drift +
performance; `all` = ml_extract + drift + predictions + performance. Prints a Markdown table and a
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sidecar import SPANS_PER_REQUEST, Sidecar, Sink, make_requests, send

PID_KEY = b"ml.prediction.id"
LABELS_PER_REQUEST = SPANS_PER_REQUEST // 2
CONFIGS = {
    "performance": ["ml_extract", "drift", "performance"],
    "all": ["ml_extract", "drift", "predictions", "performance"],
}


def pid_offsets(raw: bytes) -> list[int]:
    """Offsets of the 16 hex characters of every `ml.prediction.id` value in an encoded request."""
    out, at = [], raw.find(PID_KEY)
    while at >= 0:
        start = at + len(PID_KEY) + 4  # 0x12 len (AnyValue) 0x0a 0x10 (string_value, 16 bytes)
        assert raw[start - 1] == 16 and bytes(raw[start : start + 16]).isalnum(), "unexpected encoding"
        out.append(start)
        at = raw.find(PID_KEY, start)
    return out


def label_template(seed: int = 11) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    rng = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="bench-labels")))
    ss = rs.scope_spans.add()
    for _ in range(LABELS_PER_REQUEST):
        span = ss.spans.add(
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
            name="label churn",
            kind=1,
            start_time_unix_nano=1_700_003_600_000_000_000,
            end_time_unix_nano=1_700_003_600_001_000_000,
        )
        span.attributes.extend(
            [
                KeyValue(key="ml.operation.name", value=AnyValue(string_value="label")),
                KeyValue(key="ml.model.name", value=AnyValue(string_value="churn")),
                KeyValue(key=PID_KEY.decode(), value=AnyValue(string_value="0" * 16)),
                KeyValue(key="ml.label.value", value=AnyValue(int_value=rng.randint(0, 1))),
            ]
        )
    return req.SerializeToString()


class Traffic:
    """Request `i` of the stream: predictions with ids i*512 + j, then, from `lag` on, the labels of
    the first `share` of the predictions of request i - lag."""

    def __init__(self, share: float, lag: int) -> None:
        self.templates = [(raw, pid_offsets(raw)) for raw in make_requests(16, numeric=20)]
        raw = label_template()
        self.labels = (raw, pid_offsets(raw)[: int(LABELS_PER_REQUEST * 2 * share)])
        self.lag = lag

    @staticmethod
    def _fill(raw: bytes, offsets: list[int], first: int, stride: int) -> bytes:
        out = bytearray(raw)
        for j, at in enumerate(offsets):
            out[at : at + 16] = b"%016x" % (first + j * stride)
        return bytes(out)

    def size(self, i: int) -> int:
        """Bytes of request `i` (ids have a fixed width, so every request is its template's size)."""
        size = len(self.templates[i % len(self.templates)][0])
        return size + (len(self.labels[0]) if i >= self.lag and self.labels[1] else 0)

    def requests(self, i: int) -> list[bytes]:
        raw, offsets = self.templates[i % len(self.templates)]
        out = [self._fill(raw, offsets, i * SPANS_PER_REQUEST, 1)]
        if i >= self.lag and self.labels[1]:
            out.append(self._fill(*self.labels, (i - self.lag) * SPANS_PER_REQUEST, 2))
        return out


def settled_counts(api_port: int, predictions: int, labels: int) -> dict[str, int]:
    """The `performance` processor's counters once it has every prediction (the sink's byte count can
    run ahead of it: the sidecar forwards what it received before its processors finish a request)."""
    deadline = time.monotonic() + 120
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/performance", timeout=60) as r:
            counts = json.loads(r.read())["counts"]
        done = counts["predictions"] >= predictions and counts["labels"] >= labels
        if done or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=int, default=10_000_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="performance")
    parser.add_argument("--label-share", type=float, default=0.5)
    parser.add_argument("--label-lag", type=int, default=40, help="requests from a prediction to its label")
    args = parser.parse_args()
    traffic = Traffic(args.label_share, args.label_lag)
    total = -(-args.predictions // SPANS_PER_REQUEST)
    rows: list[dict[str, float]] = []
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        sidecar = Sidecar(sink.port, CONFIGS[args.config], Path(tmp), None)
        try:
            expected = sink.bytes()
            rows.append({"predictions": 0, "rss_mib": sidecar.rss_mib(), "spans_per_s": 0.0})
            for step in range(args.steps):
                first, last = total * step // args.steps, total * (step + 1) // args.steps
                t0 = time.perf_counter()
                send(sidecar.grpc_port, traffic.requests, last - first, first)
                expected += sum(traffic.size(i) for i in range(first, last))
                while sink.bytes() < expected:
                    time.sleep(0.01)
                elapsed = time.perf_counter() - t0
                rows.append(
                    {
                        "predictions": last * SPANS_PER_REQUEST,
                        "rss_mib": sidecar.rss_mib(),
                        "spans_per_s": (last - first) * SPANS_PER_REQUEST / elapsed,
                    }
                )
                print(f"{last * SPANS_PER_REQUEST:>12,} predictions: RSS {rows[-1]['rss_mib']:.1f} MiB")
            labels = max(0, total - args.label_lag) * len(traffic.labels[1])
            counts = settled_counts(sidecar.api_port, total * SPANS_PER_REQUEST, labels)
        finally:
            sidecar.close()
            sink.close()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n`{args.config}` sidecar ({', '.join(CONFIGS[args.config])}), labels for {args.label_share:.0%} "
        f"{args.label_lag} requests later, {os.cpu_count()} CPUs, load at the end {load}\n"
    )
    print("| predictions | RSS MiB | prediction spans/s in that step |")
    print("|---:|---:|---:|")
    for row in rows:
        print(f"| {row['predictions']:,} | {row['rss_mib']:.1f} | {row['spans_per_s']:,.0f} |")
    later = [r["rss_mib"] for r in rows[len(rows) // 2 :]]
    print(
        f"\nsecond half: RSS {min(later):.1f}-{max(later):.1f} MiB; labels sent {labels:,}; "
        f"`performance` counts {counts}"
    )
    print(json.dumps({"config": args.config, "rows": rows, "counts": counts}))


if __name__ == "__main__":
    main()
