"""Library overhead in machine instructions: the variants of ``bench_overhead.py``, counted by callgrind.

CPU time on a shared machine moves by a few percent from one minute to the next, which is the size of
the difference this benchmark is about. Instruction counts do not: each variant runs in its own process
under valgrind's callgrind, which counts the instructions executed on the calling thread inside the
measured loop only (``--toggle-collect`` on ``functools.reduce``, which drives the loop), garbage
collections included. The ``BatchSpanProcessor`` thread (batching and the exporter that drops the spans)
is not counted; it does the same work for (b) and (c).

A count is not exactly repeatable: the interpreter's method cache is indexed by object addresses, and
garbage collections depend on the allocations of the export thread, so the same variant moves by up to
~0.3% (a few thousand instructions per call) from one process to the next. ``--repeat N`` counts each
variant N times and reports the medians, and the ratio of each run.

``--integrations`` also counts a single-row XGBoost ``Booster.inplace_predict`` and a Feast online lookup
(SQLite online store), each bare, in a hand-written span with the same attributes, and instrumented
(``integration_calls.py``); the Feast variants run ``--feast-calls`` calls.

Run: ``.venv/bin/python benchmarks/bench_overhead_instructions.py [--calls 1000] [--manual]
[--integrations] [--repeat 1]`` (needs ``valgrind``; about five minutes on two cores, eight with
``--manual``, plus about ten with ``--integrations``; times ``--repeat``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

VARIANTS = {"a": "(a) bare predict_proba", "b": "(b) hand-written OTel span",
            "c": "(c) otelml instrumentor (defaults)"}
# --manual: the manual API against a hand-written span, no model call (bench_core.py's span pair).
MANUAL = {"h": "hand-written span (bench_core)", "m": "otelml.inference(..., features=X) + set_prediction"}
# --integrations: (a) bare, (b) hand-written span, (c) otelml instrumentor, for three more calls.
INTEGRATIONS = {"xa": "(a) bare XGBoost Booster.inplace_predict", "xb": "(b) hand-written OTel span",
                "xc": "(c) otelml XGBoost instrumentor", "la": "(a) bare LightGBM Booster.predict",
                "lb": "(b) hand-written OTel span", "lc": "(c) otelml LightGBM instrumentor",
                "fa": "(a) bare Feast get_online_features",
                "fb": "(b) hand-written OTel span", "fc": "(c) otelml Feast instrumentor"}
WARM_UP = 200


def child(variant: str, calls: int, feast_repo: str | None = None) -> None:
    """Set up one variant as ``bench_overhead.py`` does, warm it up, then run the measured loop."""
    sys.path.insert(0, str(Path(__file__).parent))
    if variant in INTEGRATIONS:
        _integration_child(variant, calls, feast_repo)
        return
    import bench_overhead as bench
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otelml import _telemetry
    from otelml.instrumentation.sklearn import SklearnInstrumentor

    model, data = bench._model()
    row = data[:1].copy()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(bench.DropExporter(), max_queue_size=1 << 20))
    if variant == "c":
        SklearnInstrumentor().instrument(tracer_provider=provider)
    if variant in MANUAL:
        fn = _manual_pair(provider)[variant]
    else:
        fn = bench._hand_written(provider, model, with_id=True) if variant == "b" else model.predict_proba
    for _ in range(WARM_UP):
        fn(row)
    _telemetry.flush_durations()
    gc.collect()
    gc.freeze()  # what start-up allocated is not scanned again by the collections inside the loop

    def step(acc: int, _: int) -> int:
        fn(row)
        return acc

    functools.reduce(step, range(calls), 0)  # the only reduce call: callgrind counts inside it
    provider.shutdown()


def _integration_child(variant: str, calls: int, feast_repo: str | None) -> None:
    import bench_overhead as bench
    import integration_calls
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otelml import _telemetry

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(bench.DropExporter(), max_queue_size=1 << 20))
    if variant.startswith("x"):
        call = integration_calls.booster_variants(provider, variant[1])
    elif variant.startswith("l"):
        call = integration_calls.lightgbm_variants(provider, variant[1])
    else:
        call = integration_calls.feast_variants(provider, variant[1], Path(feast_repo or "."))
    for _ in range(min(WARM_UP, calls)):
        call()
    _telemetry.flush_durations()
    gc.collect()
    gc.freeze()

    def step(acc: int, _: int) -> int:
        call()
        return acc

    functools.reduce(step, range(calls), 0)
    provider.shutdown()


def _manual_pair(provider: Any) -> dict[str, Callable[[Any], None]]:
    """bench_core.py's span pair: the manual API and the same 27 attributes written by hand."""
    import bench_core

    import otelml

    otelml.configure(tracer_provider=provider, metrics=False)
    hand, manual = bench_core.span_pair(provider.get_tracer("hand-written"))
    return {"h": lambda _: hand(), "m": lambda _: manual()}


def _count(variant: str, calls: int, out_dir: str, feast_repo: str | None = None, run: int = 0) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
           f"--callgrind-out-file={out_dir}/callgrind.{variant}.{run}.out",
           sys.executable, __file__, "--child", variant, "--calls", str(calls)]
    if feast_repo is not None:
        cmd += ["--feast-repo", feast_repo]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run of variant {variant} failed:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="measured calls per variant")
    parser.add_argument("--manual", action="store_true",
                        help="also count the manual API against a hand-written span (bench_core.py's pair)")
    parser.add_argument("--integrations", action="store_true",
                        help="also count an XGBoost booster prediction and a Feast online lookup")
    parser.add_argument("--feast-calls", type=int, default=200, help="measured Feast lookups per variant")
    parser.add_argument("--repeat", type=int, default=1,
                        help="count each variant this many times (separate processes) and report the medians")
    parser.add_argument("--only-integrations", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feast-repo", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=sorted({**VARIANTS, **MANUAL, **INTEGRATIONS}),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.calls, args.feast_repo)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    if args.integrations or args.only_integrations:
        _integrations(args.calls, args.feast_calls, args.repeat)
        if args.only_integrations:
            return
    variants = [*VARIANTS, *(MANUAL if args.manual else ())]
    runs = _runs(variants, args.repeat, lambda v, out_dir, i: _count(v, args.calls, out_dir, run=i))
    per_call = {k: statistics.median(v) / args.calls for k, v in runs.items()}
    a, b, c = per_call["a"], per_call["b"], per_call["c"]
    print(f"Python {sys.version.split()[0]}; {args.calls} calls per variant after {WARM_UP} warm-up calls; "
          f"instructions on the calling thread (callgrind); median of {args.repeat} run(s) per variant")
    print()
    print("| variant | instructions per call |")
    print("|---|---:|")
    for key, label in VARIANTS.items():
        print(f"| {label} | {per_call[key]:,.0f} |")
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| (c)/(b) — target <= 1.0 | {c / b:.4f} |")
    if args.repeat > 1:
        print(f"| (c)/(b) of each run (run i of (c) over run i of (b)) | {_each(runs['c'], runs['b'])} |")
    print(f"| ((c)-(a)) / ((b)-(a)): otelml's work per call against the hand-written span's "
          f"| {(c - a) / (b - a):.4f} |")
    print(f"| (c)-(b) | {c - b:+,.0f} instructions per call |")
    if args.manual:
        h, m = per_call["h"], per_call["m"]
        print()
        print("| manual API, no model call | instructions per call |")
        print("|---|---:|")
        for key, label in MANUAL.items():
            print(f"| {label} | {per_call[key]:,.0f} |")
        print(f"| otelml.inference / hand-written | {m / h:.4f} |")
        if args.repeat > 1:
            print(f"| each run | {_each(runs['m'], runs['h'])} |")


def _runs(variants: list[str], repeat: int, count: Callable[[str, str, int], int]) -> dict[str, list[int]]:
    """``repeat`` counts of every variant, each in its own process, two at a time (two cores)."""
    jobs = [(v, i) for i in range(repeat) for v in variants]
    with tempfile.TemporaryDirectory() as out_dir, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        counts = list(pool.map(lambda job: count(job[0], out_dir, job[1]), jobs))
    runs: dict[str, list[int]] = {v: [] for v in variants}
    for (variant, _), n in zip(jobs, counts, strict=True):
        runs[variant].append(n)
    return runs


def _each(numerator: list[int], denominator: list[int]) -> str:
    return ", ".join(f"{n / d:.4f}" for n, d in zip(numerator, denominator, strict=True))


def _integrations(calls: int, feast_calls: int, repeat: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import integration_calls

    n = {v: feast_calls if v.startswith("f") else calls for v in INTEGRATIONS}
    with tempfile.TemporaryDirectory() as repo:
        integration_calls.make_feast_repo(Path(repo))
        runs = _runs(list(INTEGRATIONS), repeat, lambda v, out_dir, i: _count(v, n[v], out_dir, repo, i))
    per_call = {k: statistics.median(runs[k]) / n[k] for k in INTEGRATIONS}
    print(f"{calls} booster predictions, {feast_calls} Feast lookups per variant; instructions on the "
          f"calling thread (callgrind); median of {repeat} run(s) per variant")
    print()
    print("| variant | instructions per call |")
    print("|---|---:|")
    for key, label in INTEGRATIONS.items():
        print(f"| {label} | {per_call[key]:,.0f} |")
    print()
    print("| call | (c)/(b) — target <= 1.0 | ((c)-(a))/((b)-(a)) | (c)-(b) |")
    print("|---|---:|---:|---:|")
    for prefix, name in (("x", "XGBoost Booster.inplace_predict, 1 row"),
                         ("l", "LightGBM Booster.predict, 1 row"), ("f", "Feast get_online_features")):
        a, b, c = (per_call[prefix + v] for v in "abc")
        print(f"| {name} | {c / b:.4f} | {(c - a) / (b - a):.4f} | {c - b:+,.0f} |")
    if repeat > 1:
        print()
        for prefix, name in (("x", "XGBoost"), ("l", "LightGBM"), ("f", "Feast")):
            print(f"{name} (c)/(b) of each run: {_each(runs[prefix + 'c'], runs[prefix + 'b'])}")
    print()


if __name__ == "__main__":
    main()
