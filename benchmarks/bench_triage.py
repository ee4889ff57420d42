"""Cost of a diagnosis / canary comparison: reading a model's stored calls with their traces.

    .venv/bin/python benchmarks/bench_triage.py [--predictions 20000] [--runs 5]

Fills a real `predictions` store (ml_extract + predictions processors, SQLite file) with
`--predictions` traces of three spans each (server span, feature_lookup with freshness, inference
with 4 features), 128 traces per request. Then times, for the newest k calls (k = 1,000, 5,000,
20,000): `predstore.calls.model_calls` (what `diagnose` and `canary` read), the span signals of
`diagnose` on them, and as the baseline in the same run the protobuf decoding alone of the same chunk
bodies. Median of `--runs`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "collector")]

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from otelml_collector import registry  # noqa: E402
from otelml_collector.component import ComponentContext  # noqa: E402
from otelml_collector.predstore.calls import model_calls  # noqa: E402
from otelml_collector.processors.diagnose.config import DiagnoseConfig  # noqa: E402
from otelml_collector.processors.diagnose.signals import learn_reference, span_findings  # noqa: E402
from otelml_collector.state import StateStore  # noqa: E402

from tests.collector.predictions.spans import inference, request, span  # noqa: E402


def fill(state: StateStore, n: int) -> object:
    ctx = lambda name: ComponentContext(name, state, MeterProvider(), LoggerProvider())  # noqa: E731
    ex, pr = registry.get("processor", "ml_extract"), registry.get("processor", "predictions")
    extract = ex.create(ex.default_config(), ctx("ml_extract"))
    predictions = pr.create(pr.config_from_dict({"max_spans": 10 * n}), ctx("predictions"))
    predictions.start()
    t0 = time.time_ns() - n * 1_000_000
    for lo in range(0, n, 128):
        spans = []
        for i in range(lo, min(n, lo + 128)):
            tid, root = os.urandom(16), os.urandom(8)
            start = t0 + i * 1_000_000
            spans.append(span(tid, "POST /score", {}, start=start, kind=2, span_id=root))
            spans.append(span(tid, "feature_lookup customer", {"ml.operation.name": "feature_lookup",
                              "ml.feature_view.name": "customer", "ml.feature_view.freshness": 5.0},
                              parent=root, start=start))
            spans.append(inference(tid, os.urandom(16).hex(), {f"x{j}": float(i % 97 + j) for j in range(4)},
                                   start=start, parent=root))
        predictions.process(extract.process(request("scoring", spans)))
    predictions.flush(60)
    return predictions


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--predictions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = StateStore(tmp)
        processor = fill(state, args.predictions)
        store = processor.store  # type: ignore[attr-defined]
        config = DiagnoseConfig()
        ref = learn_reference(model_calls(store, "credit", oldest_first=True, max_calls=1000), config, None)
        print("| newest calls | decode bodies only (ms) | model_calls (ms) | ratio | span signals (ms) |")
        print("|---:|---:|---:|---:|---:|")
        for k in (1000, 5000, 20_000):
            if k > args.predictions:
                break
            calls = model_calls(store, "credit", max_calls=k)
            chunks = set().union(*(store.chunks_of_trace(c.trace_id) for c in calls))
            bodies = store.bodies(chunks)
            decode = median_ms(lambda: [ExportTraceServiceRequest.FromString(b) for b in bodies], args.runs)  # noqa: B023
            read = median_ms(lambda: model_calls(store, "credit", max_calls=k), args.runs)  # noqa: B023
            signals = median_ms(lambda: span_findings("1", calls, ref, config), args.runs)  # noqa: B023
            print(f"| {k:,} | {decode:.1f} | {read:.1f} | {read / decode:.1f} | {signals:.1f} |")
        processor.shutdown()  # type: ignore[attr-defined]
        state.close()


if __name__ == "__main__":
    main()
