"""Prediction store and label joins, in process with the real processors and a real SQLite file.

    .venv/bin/python benchmarks/bench_predstore.py [--spans 1000000] [--lookups 2000] [--labels 200000]

1. Fills a `predictions` store (ml_extract + predictions, the sidecar's code path; the writer thread
   commits to SQLite) with `--spans` inference spans like bench_sidecar's (512 spans, 29 attributes;
   every id unique), then reports the fill rate (time in the processors + the final writer flush),
   bytes on disk per stored span and the process RSS.
2. Times `GET /v1/predictions/{id}` through the real HTTP API (aiohttp, 127.0.0.1) for `--lookups`
   random stored ids: p50 / p99 / max in ms (the issue's target: p99 < 20 ms with 1M spans).
3. Label joins: a `performance` processor holding `--labels` predictions (windows of 1000,
   `max_windows` raised to keep them all) receives their labels in random order as `label {model}`
   spans in received requests of 512 (decoded by the processor as in the sidecar); labels/s = labels /
   processing time (target >= 100,000 labels/s).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "collector"), str(ROOT / "benchmarks")]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class UniqueRequests:
    """bench_sidecar's requests (512 inference spans, 29 attributes) with fresh trace, span and
    prediction ids each time."""

    def __init__(self) -> None:
        from bench_sidecar import make_requests
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.messages = [ExportTraceServiceRequest.FromString(r) for r in make_requests(4, numeric=20)]
        self.rng = random.Random(5)

    def next(self, i: int) -> bytes:
        message = self.messages[i % len(self.messages)]
        for span in message.resource_spans[0].scope_spans[0].spans:
            span.trace_id = self.rng.randbytes(16)
            span.span_id = self.rng.randbytes(8)
            span.attributes[3].value.string_value = self.rng.randbytes(16).hex()  # ml.prediction.id
        return message.SerializeToString()


def main() -> int:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from otelml_collector import registry
    from otelml_collector.component import ComponentContext
    from otelml_collector.httpapi import EventLoopThread, HttpApi
    from otelml_collector.pipeline import Signal, TelemetryRequest
    from otelml_collector.state import StateStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--labels", type=int, default=200_000)
    args = parser.parse_args()

    def make(kind: str, state: StateStore, config: dict, api: HttpApi | None = None):  # type: ignore[no-untyped-def]
        factory = registry.get("processor", kind)
        ctx = ComponentContext(kind, state, MeterProvider(), LoggerProvider(), http_api=api)
        return factory.create(factory.config_from_dict(config), ctx)

    with tempfile.TemporaryDirectory(prefix="bench-predstore-") as tmp:
        state = StateStore(tmp)
        api = HttpApi("127.0.0.1:0")
        loop = EventLoopThread()
        extract = make("ml_extract", state, {})
        preds = make("predictions", state, {"max_spans": args.spans * 2, "queue_size": 100_000}, api)
        preds.start()
        api.start(loop)
        n_requests = -(-args.spans // 512)
        source = UniqueRequests()
        rss0, fill = rss_mib(), 0.0
        sample: list[str] = []
        for i in range(n_requests):
            request = TelemetryRequest(Signal.TRACES, source.next(i), items=512)
            t = time.perf_counter()
            extract.process(request)
            preds.process(request)
            fill += time.perf_counter() - t
            if random.random() < 0.05:
                sample.extend(random.sample(request.records[0].prediction_id, 2))
        t = time.perf_counter()
        preds.flush(600)
        fill += time.perf_counter() - t
        stats = preds.stats()
        print(
            f"filled {stats['spans']:,} spans in {fill:.1f} s ({stats['spans'] / fill:,.0f} spans/s in "
            f"process, dropped {stats['dropped_spans']:,}); {stats['disk_bytes'] / stats['spans']:.0f} bytes "
            f"on disk per stored span; RSS {rss0:.0f} -> {rss_mib():.0f} MiB"
        )
        lat = []
        url = f"http://127.0.0.1:{api.port}/v1/predictions/"
        for pid in random.choices(sample, k=args.lookups):
            t = time.perf_counter()
            with urllib.request.urlopen(url + pid, timeout=10) as resp:
                resp.read()
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1]
        print(
            f"GET /v1/predictions/{{id}} over HTTP, {len(lat)} lookups: p50 {statistics.median(lat):.2f} ms, "
            f"p99 {p99:.2f} ms, max {lat[-1]:.2f} ms"
        )
        preds.shutdown()
        api.shutdown()
        loop.stop()
        state.close()

    from tests.collector.predictions.spans import inference, label, request

    state = StateStore(":memory:")
    n = args.labels
    perf = make(
        "performance",
        state,
        {"window": {"size": 1000}, "max_windows": n // 1000 + 2, "baseline": {"warmup": 0}},
    )
    extract = make("ml_extract", state, {})
    ids = [(os.urandom(16), os.urandom(16).hex()) for _ in range(n)]
    for start in range(0, n, 512):
        spans = [inference(t, p, {"x": 1.0}, value=1, score=0.7) for t, p in ids[start : start + 512]]
        perf.process(extract.process(request("svc", spans)))
    random.shuffle(ids)
    label_requests = [
        request("labels", [label(p, random.randint(0, 1)) for _, p in ids[s : s + 512]])
        for s in range(0, n, 512)
    ]
    t0 = time.perf_counter()
    for r in label_requests:
        perf.process(r)
    elapsed = time.perf_counter() - t0
    print(
        f"label joins: {n:,} labels in {elapsed:.2f} s = {n / elapsed:,.0f} labels/s "
        f"(joined {perf.counts['labels_joined']:,}; windows re-evaluated as their labels came)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
