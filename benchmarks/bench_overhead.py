"""Library overhead: single-row ``predict_proba`` of a 20-feature LogisticRegression.

(a) bare model call; (b) the call inside a hand-written OTel span carrying the same attributes otelml
records; (c) the call instrumented by otelml. Spans go through a ``BatchSpanProcessor`` to an exporter
that drops them. The variants are interleaved in every run (shuffled order) so machine load hits all
three alike; the table reports the median per-call time over runs. Also measured: the OTLP protobuf
encoding cost per inference span with the SDK's own encoder (the exporter runs it on the service's CPU).

Times are process CPU time, so other processes on a shared machine do not count; variant (d) is (c)
with the library metrics switched off, to show what they cost.

Short chunks, many rounds: on a shared machine the load changes by the second, so each round times
(a)-(d) back to back and the ratio is taken per round; the medians over rounds are reported.

Run: ``.venv/bin/python benchmarks/bench_overhead.py [--runs 60] [--calls 200]``

The processor's queue is raised to 65,536 spans so that no span is dropped when the export thread is
starved on a busy machine (a dropped span would make a variant look cheaper than it is).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sklearn
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.linear_model import LogisticRegression

import otelml
from otelml import _telemetry
from otelml.instrumentation.sklearn import SklearnInstrumentor

N_FEATURES = 20
WARM_UP_CALLS = 5


class DropExporter(SpanExporter):
    """Accepts and discards every batch."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _model() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, N_FEATURES))
    y = (X @ rng.normal(size=N_FEATURES) > 0).astype(int)
    return LogisticRegression().fit(X, y), X


def _hand_written(provider: TracerProvider, model: LogisticRegression, with_id: bool) -> Callable[[Any], Any]:
    """What a careful engineer writes by hand: the same span name and attributes as otelml."""
    tracer = provider.get_tracer("hand-written")
    keys = [f"ml.feature.f{i}" for i in range(N_FEATURES)]
    static = {"ml.operation.name": "inference", "ml.model.name": "LogisticRegression",
              "ml.model.framework": "sklearn", "ml.model.task": "classification"}
    classes = model.classes_.tolist()
    getrandbits = random.getrandbits

    def call(X: Any) -> Any:
        attrs = dict(zip(keys, X[0].tolist(), strict=True))
        attrs.update(static)
        if with_id:
            attrs["ml.prediction.id"] = "%032x" % getrandbits(128)  # noqa: UP031
        with tracer.start_as_current_span("inference LogisticRegression", attributes=attrs) as span:
            proba = model.predict_proba(X)
            span.set_attributes({"ml.prediction.value": classes[int(proba[0].argmax())],
                                 "ml.prediction.score": float(proba[0, 1])})
        return proba

    return call


def _time(fn: Callable[[Any], Any], X: Any, calls: int,
          after: Callable[[], None] | None = None) -> tuple[float, float]:
    """(mean CPU µs per call, median wall-clock µs of one call) over ``calls`` calls.

    CPU is process CPU time (the export thread counts, other processes on the shared machine do not)
    and includes ``after`` (otelml's deferred duration recording, so it is charged to the variant that
    caused it); the wall-clock figure is what one request waits for. Before the clock starts a full
    collection and ``WARM_UP_CALLS`` untimed calls: no variant pays for its setup's garbage or cold
    caches (the first call after ``instrument()`` and a collection is several times slower than a
    steady one)."""
    latencies = []
    clock = time.perf_counter
    # Garbage left by the setup (instrument() wraps ~200 classes' methods) is collected here, not by
    # the first collections inside the timed calls, and a few untimed calls warm the caches the setup
    # and the collection evicted: every variant is timed from the same steady state.
    gc.collect()
    for _ in range(WARM_UP_CALLS):
        fn(X)
    if after is not None:
        after()
    start = time.process_time()
    for _ in range(calls):
        t0 = clock()
        fn(X)
        latencies.append(clock() - t0)
    if after is not None:
        after()
    return (time.process_time() - start) / calls * 1e6, statistics.median(latencies) * 1e6


def _otelml_span_attributes(model: LogisticRegression, row: np.ndarray) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    SklearnInstrumentor().instrument(tracer_provider=provider)
    model.predict_proba(row)
    SklearnInstrumentor().uninstrument()
    return exporter.get_finished_spans()[0]


def _encode_cost(span: ReadableSpan, runs: int) -> tuple[float, int]:
    """Median µs to encode one span to OTLP protobuf bytes, in batches of 512 as the exporter sends."""
    batch = [span] * 512
    per_span = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(2):
            encode_spans(batch).SerializeToString()
        per_span.append((time.process_time() - start) / (2 * len(batch)) * 1e6)
    return statistics.median(per_span), len(encode_spans([span]).SerializeToString())


def diagnose(runs: int, calls: int) -> None:
    """Span work only: a model whose ``predict_proba`` returns a constant, so (b) and (c) time nothing
    but the telemetry; then (c) without the label memory (no-op ``_labels.remember_prediction``),
    without metrics, and without both. Reports medians and minimum over rounds, minus (a)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    from otelml import _labels, _telemetry

    class Constant(ClassifierMixin, BaseEstimator):
        def fit(self, X: Any, y: Any) -> Constant:
            self.classes_ = np.array([0, 1])
            self.out_ = np.array([[0.3, 0.7]])
            return self

        def predict_proba(self, X: Any) -> Any:
            return self.out_

    row = np.random.default_rng(0).normal(size=(1, N_FEATURES))
    model = Constant().fit(row, [1])
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 20))
    hand = _hand_written(provider, model, with_id=True)  # type: ignore[arg-type]
    instrumentor = SklearnInstrumentor()
    remember = _labels.remember_prediction
    variants = {"a": "bare", "b": "hand-written span", "c": "otelml", "L": "otelml, no label memory",
                "M": "otelml, metrics off", "X": "otelml, neither"}
    results: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(runs):
        for key in random.sample(list(variants), len(variants)):
            if key not in "ab":
                otelml.configure(metrics=key not in "MX")
                if key in "LX":
                    _labels.remember_prediction = lambda *a, **k: None  # type: ignore[assignment]
                instrumentor.instrument(tracer_provider=provider)
            try:
                results[key].append(_time(hand if key == "b" else model.predict_proba, row, calls,
                                          _telemetry.flush_durations)[0])
            finally:
                _labels.remember_prediction = remember
                if key not in "ab":
                    instrumentor.uninstrument()
    provider.shutdown()
    print("| variant | CPU µs, median minus (a) | min minus (a) | per round vs hand-written span |")
    print("|---|---:|---:|---:|")
    a_med, a_min = statistics.median(results["a"]), min(results["a"])
    for key, label in variants.items():
        if key == "a":
            continue
        per_round = statistics.median((x - a) / (b - a) for x, a, b in
                                      zip(results[key], results["a"], results["b"], strict=True))
        print(f"| {label} | {statistics.median(results[key]) - a_med:.1f} | {min(results[key]) - a_min:.1f} "
              f"| {per_round:.3f} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60,
                        help="rounds; each times every variant once, in shuffled order (>= 5)")
    parser.add_argument("--calls", type=int, default=200, help="calls per variant per round")
    parser.add_argument("--meter-provider", action="store_true",
                        help="also install an SDK MeterProvider (in-memory reader), as otelml.auto would "
                             "with OTLP metrics: (c) then records real metrics")
    parser.add_argument("--diagnose", action="store_true",
                        help="span work only, with the label memory and/or metrics switched off")
    args = parser.parse_args(argv)
    if args.diagnose:
        diagnose(args.runs, args.calls)
        return

    load_start = os.getloadavg()[0]
    reader = None
    if args.meter_provider:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    model, data = _model()
    row = data[:1].copy()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    sample_span = _otelml_span_attributes(model, row)
    with_id = "ml.prediction.id" in sample_span.attributes
    hand = _hand_written(provider, model, with_id)
    instrumentor = SklearnInstrumentor()

    # Same attributes in (b) and (c), checked rather than assumed.
    check = InMemorySpanExporter()
    check_provider = TracerProvider()
    check_provider.add_span_processor(SimpleSpanProcessor(check))
    _hand_written(check_provider, model, with_id)(row)
    assert set(check.get_finished_spans()[0].attributes) == set(sample_span.attributes), (
        sorted(check.get_finished_spans()[0].attributes), sorted(sample_span.attributes))

    def bare(X: Any) -> Any:
        return model.predict_proba(X)

    variants = {"a": bare, "b": hand, "c": bare, "d": bare}
    results: dict[str, list[float]] = {k: [] for k in variants}
    walls: dict[str, list[float]] = {k: [] for k in variants}

    def run(name: str, calls: int) -> tuple[float, float]:
        if name in "cd":
            otelml.configure(metrics=name == "c")
            instrumentor.instrument(tracer_provider=provider)
        try:
            return _time(variants[name], row, calls, _telemetry.flush_durations if name in "cd" else None)
        finally:
            if name in "cd":
                instrumentor.uninstrument()

    for name in variants:  # warm-up
        run(name, args.calls // 5)
    for _ in range(args.runs):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            cpu, wall = run(name, args.calls)
            results[name].append(cpu)
            walls[name].append(wall)
    provider.shutdown()
    if reader is not None:  # every (c) call's duration reached the SDK histogram: nothing was skipped
        data = reader.get_metrics_data()
        counts = [p.count for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                  if m.name == "ml.inference.duration" for p in m.data.data_points]
        expected = 1 + (args.calls // 5 + WARM_UP_CALLS) + args.runs * (args.calls + WARM_UP_CALLS)
        assert sum(counts) == expected, (counts, expected)  # 1: the sample span

    a, b, c = (statistics.median(results[k]) for k in "abc")
    ratio = statistics.median(cr / br for cr, br in zip(results["c"], results["b"], strict=True))
    ratio_d = statistics.median(dr / br for dr, br in zip(results["d"], results["b"], strict=True))
    wall_ratio = statistics.median(cw / bw for cw, bw in zip(walls["c"], walls["b"], strict=True))
    wa_a, wa_b, wa_c = (statistics.median(walls[k]) for k in "abc")
    encode_us, encoded_bytes = _encode_cost(sample_span, min(args.runs, 7))
    print(f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
          f"otelml {otelml.__version__}; {args.runs} rounds x {args.calls} calls per variant, medians; "
          f"span attributes: {len(sample_span.attributes)}; load average at start/end "
          f"{load_start:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; SDK MeterProvider: "
          f"{'yes' if args.meter_provider else 'no (metrics go to the API no-op)'}")
    print()
    print("| variant | CPU µs per call, median | min | max | wall µs per call (median call), median |")
    print("|---|---:|---:|---:|---:|")
    for key, label in (("a", "(a) bare predict_proba"), ("b", "(b) hand-written OTel span"),
                       ("c", "(c) otelml instrumentor (defaults)"),
                       ("d", "(d) otelml, OTELML_METRICS=false")):
        med = statistics.median(results[key])
        print(f"| {label} | {med:.1f} | {min(results[key]):.1f} | {max(results[key]):.1f} "
              f"| {statistics.median(walls[key]):.1f} |")
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| (c)/(b) median of per-round ratios — target <= 1.0 | {ratio:.3f} |")
    print(f"| (c)/(b) of the medians | {c / b:.3f} |")
    print(f"| (d)/(b) median of per-round ratios | {ratio_d:.3f} |")
    print(f"| (c)/(b) wall-clock per call, median of per-round ratios | {wall_ratio:.3f} |")
    print(f"| (c)-(a) wall-clock per call | {wa_c - wa_a:.1f} µs; (b)-(a): {wa_b - wa_a:.1f} µs |")
    print(f"| (c)-(a) overhead | {c - a:.1f} µs ({(c - a) / a * 100:.0f}% of (a)) |")
    print(f"| (b)-(a) hand-written span | {b - a:.1f} µs ({(b - a) / a * 100:.0f}% of (a)) |")
    print(f"| OTLP encode per inference span (SDK encoder, batches of 512; CPU) | {encode_us:.1f} µs, "
          f"{encoded_bytes} bytes |")


if __name__ == "__main__":
    main()
