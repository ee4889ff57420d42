"""Library core costs: prediction-id generation, the prediction counter, the manual span API, propagation.

Each comparison is a ratio against a baseline measured in the same run; variants are interleaved in
shuffled order in every run, timed in thread CPU time (other processes on a shared machine do not
count), and the table reports medians over runs.

1. id: ``otelml`` prediction id (``"%032x" % getrandbits(128)``) vs ``uuid.uuid4().hex``.
2. counter: otelml's in-process ``ml.predictions`` count (observable counter) vs a synchronous
   ``Counter.add`` with the same attributes, both inside a recording span.
3. span: ``with otelml.inference(..., features=X) as h: h.set_prediction(...)`` vs a hand-written
   ``start_as_current_span`` with the same attributes (random prediction id included), 20 features,
   BatchSpanProcessor to a dropping exporter; with otelml's metrics off and on.
4. inject: composite propagator tracecontext+baggage vs the same plus otelml's, inside a prediction.

Run: ``.venv/bin/python benchmarks/bench_core.py [--runs 9] [--calls 2000]``
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otelml
from otelml import _scope, _telemetry

N_FEATURES = 20


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.thread_time()
    for _ in range(calls):
        fn()
    _telemetry.flush_durations()  # ml.inference.duration is recorded at collection: charge it here
    return (time.thread_time() - start) / calls * 1e6


def _compare(variants: dict[str, Callable[[], object]], runs: int, calls: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up
        _per_call_us(fn, calls // 10)
    for _ in range(runs):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            samples[name].append(_per_call_us(variants[name], calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def span_pair(tracer: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """The manual API and a hand-written span (``tracer``) carrying the same 27 attributes."""
    names = [f"feature_{i}" for i in range(N_FEATURES)]
    keys = ["ml.feature." + n for n in names]
    X = np.random.default_rng(0).normal(size=(1, N_FEATURES))
    value, score = np.array([1]), np.array([0.83])
    static = {"ml.operation.name": "inference", "ml.model.name": "credit", "ml.model.version": "7",
              "ml.model.framework": "sklearn", "ml.model.task": "classification"}
    getrandbits = random.getrandbits

    def hand_span() -> None:
        attrs = dict(zip(keys, X[0].tolist(), strict=True))
        attrs.update(static)
        attrs["ml.prediction.id"] = "%032x" % getrandbits(128)  # noqa: UP031
        with tracer.start_as_current_span("inference credit", attributes=attrs) as span:
            span.set_attributes({"ml.prediction.value": int(value[0]),
                                 "ml.prediction.score": float(score[0])})

    def otelml_span() -> None:
        with otelml.inference("credit", "7", framework="sklearn", task="classification",
                              features=X, feature_names=names) as h:
            h.set_prediction(value, score)

    return hand_span, otelml_span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otelml.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("hand-written")
    counter = meter_provider.get_meter("hand-written").create_counter("hand.predictions")
    value = np.array([1])
    hand_span, otelml_span = span_pair(tracer)

    rows: list[tuple[str, str, float, float, str]] = []

    ids = _compare({"uuid4": lambda: uuid.uuid4().hex, "otelml": _scope.new_prediction_id},
                   args.runs, args.calls * 10)
    rows.append(("prediction id", "uuid.uuid4().hex", ids["uuid4"], ids["otelml"], "otelml id"))

    attrs = _telemetry._label_attributes("credit", "7", "ml.prediction.class", "1")
    with tracer.start_as_current_span("parent"):
        counts = _compare({"sync": lambda: counter.add(1, attrs),
                           "otelml": lambda: _telemetry.record_predictions("credit", "7", value,
                                                                           "classification")},
                          args.runs, args.calls * 5)
    rows.append(("ml.predictions count", "Counter.add", counts["sync"], counts["otelml"], "otelml count"))

    otelml.configure(metrics=False)
    spans_off = _compare({"hand": hand_span, "otelml": otelml_span}, args.runs, args.calls)
    rows.append(("inference span, metrics off", "hand-written span", spans_off["hand"],
                 spans_off["otelml"], "otelml.inference"))
    otelml.configure(metrics=True)
    spans_on = _compare({"hand": hand_span, "otelml": otelml_span}, args.runs, args.calls)
    rows.append(("inference span, metrics on", "hand-written span (no metrics)", spans_on["hand"],
                 spans_on["otelml"], "otelml.inference + 2 metrics"))

    plain = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    with_id = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator(),
                                   otelml.PredictionIdPropagator()])
    with tracer.start_as_current_span("request"), otelml.prediction():
        injects = _compare({"plain": lambda: plain.inject({}), "otelml": lambda: with_id.inject({})},
                           args.runs, args.calls * 5)
    rows.append(("outgoing inject", "tracecontext+baggage", injects["plain"], injects["otelml"],
                 "+ otelml propagator"))

    tracer_provider.shutdown()
    meter_provider.shutdown()
    print(f"Python {platform.python_version()}, {args.runs} runs, medians, thread CPU time\n")
    print("| what | baseline | baseline µs | otelml µs | otelml / baseline | otelml variant |")
    print("|---|---|---|---|---|---|")
    for what, base_name, base, ours, ours_name in rows:
        print(f"| {what} | {base_name} | {base:.2f} | {ours:.2f} | {ours / base:.2f} | {ours_name} |")


if __name__ == "__main__":
    main()
