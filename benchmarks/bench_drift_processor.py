"""Cost of the drift processor on the sidecar's hot path, in process (no sockets).

    .venv/bin/python benchmarks/bench_drift_processor.py [--runs 5] [--requests 200]

Requests: pre-encoded ExportTraceServiceRequests of 512 inference spans with 20 numeric + 2
categorical features, prediction value/score and model name/version, encoded once before timing.
Each run pushes every request through the processors exactly as the sidecar's pipeline worker does
(`process(request)` in order, then `request.payload()` as the exporter would) and times the wall
clock. Configurations, interleaved run by run:

- `extract`: ml_extract alone (the baseline);
- `drift`: ml_extract + drift on stable data (window.size 5000, so ~20 windows close per run and
  are scored by the worker thread during the run);
- `drift+tag`: as `drift`, but one feature is shifted so ~16% of spans lie beyond the baseline's
  maximum: those requests are decoded, tagged with ml.drift.features and re-encoded.

Reported: median spans/s (wall clock) over the runs, wall and CPU µs per span (CPU = the whole
process, so the drift worker's scoring is included; on a shared machine CPU time is the steadier
figure), and the drift processor's own CPU µs per span (configuration minus `extract`). Prints a
Markdown table and a JSON line. `--breakdown` also times the drift stages one by one on the same
requests (best of 5 repeats, µs per span): window updates, span tagging, and scoring + emitting +
storing a closed window (per window, and spread over the `window.size` spans it holds).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import tempfile
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.drift import DriftFactory
from otelml_collector.processors.extract import MLExtractFactory
from otelml_collector.state import StateStore

from otelml import stats

SPANS = 512


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=float(value)))  # type: ignore[arg-type]


def make_requests(count: int, shift: float, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        req = ExportTraceServiceRequest()
        ss = req.resource_spans.add().scope_spans.add()
        for _ in range(SPANS):
            span = ss.spans.add(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name="inference churn",
                start_time_unix_nano=1_700_000_000_000_000_000,
                end_time_unix_nano=1_700_000_000_002_000_000,
            )
            attrs = [
                kv("ml.operation.name", "inference"),
                kv("ml.model.name", "churn"),
                kv("ml.model.version", "3"),
                kv("ml.prediction.value", rng.randint(0, 1)),
                kv("ml.prediction.score", rng.random()),
                kv("ml.feature.plan", rng.choice(["free", "pro", "team"])),
                kv("ml.feature.channel", rng.choice(["web", "ios", "android", "api"])),
            ]
            attrs += [
                kv(f"ml.feature.f{j:02d}", rng.gauss(0, 1.0) + (shift if j == 7 else 0)) for j in range(20)
            ]
            span.attributes.extend(attrs)
        out.append(req.SerializeToString())
    return out


def context(state_dir: str) -> ComponentContext:
    return ComponentContext(
        name="bench",
        state=StateStore(state_dir),
        meter_provider=MeterProvider(
            metric_readers=[InMemoryMetricReader()],
            exemplar_filter=TraceBasedExemplarFilter(),
            views=DriftFactory().metric_views(),
        ),
        logger_provider=LoggerProvider(),
        log=logging.getLogger("bench"),
    )


def build(kind: str, warmup: list[bytes], state_dir: str) -> list:
    ctx = context(state_dir)
    f = MLExtractFactory()
    procs = [f.create(f.config_from_dict({}), ctx)]
    if kind != "extract":
        d = DriftFactory()
        procs.append(
            d.create(d.config_from_dict({"baseline": {"warmup": 5000}, "window": {"size": 5000}}), ctx)
        )
    for p in procs:
        p.start()
    run_once(procs, warmup)  # learn the baseline before timing
    return procs


def run_once(procs: list, requests: list[bytes]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds incl. the drift worker thread) for one pass."""
    t0, c0 = time.perf_counter(), time.process_time()
    for raw in requests:
        req = TelemetryRequest(signal=Signal.TRACES, raw=raw)
        for p in procs:
            req = p.process(req)
        req.payload()
    for p in procs:
        getattr(p, "flush", lambda: None)()  # windows closed in this pass are scored and emitted
    return time.perf_counter() - t0, time.process_time() - c0


def breakdown(warm: list[bytes], stable: list[bytes], shifted: list[bytes], state_dir: str) -> list:
    """(stage, µs per span) of each drift stage in isolation; min of 5 repeats."""
    import timeit

    from otelml_collector.processors.drift.enrich import tag_spans
    from otelml_collector.processors.drift.window import OpenWindow, columns_of

    procs = build("drift", warm, state_dir)
    ext, drift = procs
    batches = [ext.process(TelemetryRequest(signal=Signal.TRACES, raw=raw)).records[0] for raw in stable]
    state = next(iter(drift._models.values()))
    n = len(batches) * SPANS
    per_bin = drift.config.exemplars.per_bin

    def best(fn, number: int = 1) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number

    def update() -> OpenWindow:
        w = OpenWindow(state.baseline, per_bin, 0)
        for b in batches:
            w.add(b, columns_of(b), 0, len(b), True)
        return w

    # flags of the shifted requests, as the processor computes them, then the splice alone
    tagged = []
    for raw in shifted:
        req = ext.process(TelemetryRequest(signal=Signal.TRACES, raw=raw))
        flags: dict = {}
        at = drift._consume(req.records[0], flags, {})
        tagged.append((raw, flags, at))
    stages = [
        ("extract (ml_extract, for scale)", best(lambda: [ext.process(TelemetryRequest(
            signal=Signal.TRACES, raw=raw)) for raw in stable]) / n * 1e6),
        ("window updates (numeric, categorical, exemplar reservoirs)", best(update) / n * 1e6),
        ("span tagging at span offsets (shifted requests)", best(lambda: [tag_spans(TelemetryRequest(
            signal=Signal.TRACES, raw=raw), f, False, a) for raw, f, a in tagged]) / n * 1e6),
        ("span tagging by walking every span (the fallback; before)", best(lambda: [tag_spans(
            TelemetryRequest(signal=Signal.TRACES, raw=raw), f, False) for raw, f, _ in tagged]) / n * 1e6),
    ]
    w = update()
    key = state.key
    per_window = best(lambda: drift._evaluate(key, w))
    size = drift.config.window.size
    stages.append((f"scoring + emitting + storing one window (per span of a {size}-span window)",
                   per_window / size * 1e6))
    stages.append(("  (one window, ms)", per_window * 1e3))
    profiles = [w.baseline.profiles[name] for name in w.names]
    windows = [w.windows[name] for name in w.names]
    cfg, tests = drift._stats_config, [len(w.names)] * len(w.names)
    stages.append(("  scoring alone: stats.evaluate per column (before), ms", best(lambda: [
        stats.evaluate(p, x, cfg, t) for p, x, t in zip(profiles, windows, tests, strict=True)]) * 1e3))
    stages.append(("  scoring alone: stats.evaluate_many (now), ms",
                   best(lambda: stats.evaluate_many(profiles, windows, cfg, tests)) * 1e3))
    results = drift._results[key]
    stages.append(("  emitting alone (gauge points + provider flush), ms",
                   best(lambda: drift._emitter.emit(results)) * 1e3))
    rows = [r.to_json() for r in results]
    stages.append(("  storing alone (results to SQLite), ms",
                   best(lambda: drift._ctx.state.put("drift.results", "bench", rows)) * 1e3))
    for p in procs:
        p.shutdown()
    return stages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--breakdown", action="store_true", help="also time each drift stage alone")
    args = ap.parse_args()
    warm = make_requests(12, 0.0, seed=1)
    stable = make_requests(args.requests, 0.0)
    shifted = make_requests(args.requests, 1.0, seed=4)
    configs = {"extract": stable, "drift": stable, "drift+tag": shifted}
    times: dict[str, list[float]] = {k: [] for k in configs}
    cpu: dict[str, list[float]] = {k: [] for k in configs}
    tagged = 0
    with tempfile.TemporaryDirectory() as tmp:
        pipelines = {k: build(k, warm, f"{tmp}/{k}") for k in configs}
        for _ in range(args.runs):
            for k, reqs in configs.items():
                wall, used = run_once(pipelines[k], reqs)
                times[k].append(wall)
                cpu[k].append(used)
        probe = TelemetryRequest(signal=Signal.TRACES, raw=shifted[0])
        for p in pipelines["drift+tag"]:
            probe = p.process(probe)
        tagged = sum(
            any(a.key == "ml.drift.features" for a in s.attributes)
            for s in probe.message.resource_spans[0].scope_spans[0].spans
        )
        for procs in pipelines.values():
            for p in procs:
                p.shutdown()
    n = args.requests * SPANS
    med = {k: statistics.median(v) for k, v in times.items()}
    us = {k: med[k] / n * 1e6 for k in med}
    cpu_us = {k: statistics.median(v) / n * 1e6 for k, v in cpu.items()}
    print(
        f"{args.runs} runs x {args.requests} requests x {SPANS} spans; tagged spans in a shifted request: "
        f"{tagged}/{SPANS}\n"
    )
    header = "| configuration | spans/s (wall) | wall µs/span | CPU µs/span | drift CPU µs/span | s/run |"
    print(header)
    print("|---|---:|---:|---:|---:|---|")
    for k in configs:
        extra = "" if k == "extract" else f"{cpu_us[k] - cpu_us['extract']:.2f}"
        print(
            f"| {k} | {n / med[k]:,.0f} | {us[k]:.2f} | {cpu_us[k]:.2f} | {extra} | "
            f"{min(times[k]):.3f}..{max(times[k]):.3f} |"
        )
    stages = []
    if args.breakdown:
        with tempfile.TemporaryDirectory() as tmp:
            stages = breakdown(warm, stable[:40], shifted[:40], tmp)
        print("\n| drift stage (in-process, alone, best of 5) | µs/span |\n|---|---:|")
        for name, value in stages:
            print(f"| {name} | {value:.2f} |")
    print(
        json.dumps(
            {
                "spans_per_s": {k: n / med[k] for k in med},
                "us_per_span": us,
                "cpu_us": cpu_us,
                "stages": stages,
            }
        )
    )


if __name__ == "__main__":
    main()
