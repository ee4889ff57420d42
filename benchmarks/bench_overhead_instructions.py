"""Library overhead in machine instructions: the variants of ``bench_overhead.py``, counted by callgrind.

CPU time on a shared machine moves by a few percent from one minute to the next, which is the size of
the difference this benchmark is about. Instruction counts do not: each variant runs in its own process
under valgrind's callgrind, which counts the instructions executed on the calling thread inside the
measured loop only (``--toggle-collect`` on ``functools.reduce``, which drives the loop), garbage
collections included. The ``BatchSpanProcessor`` thread (batching and the exporter that drops the spans)
is not counted; it does the same work for (b) and (c).

Run: ``.venv/bin/python benchmarks/bench_overhead_instructions.py [--calls 1000] [--manual]`` (needs
``valgrind``; about five minutes on two cores, eight with ``--manual``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import shutil
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
WARM_UP = 200


def child(variant: str, calls: int) -> None:
    """Set up one variant as ``bench_overhead.py`` does, warm it up, then run the measured loop."""
    sys.path.insert(0, str(Path(__file__).parent))
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


def _manual_pair(provider: Any) -> dict[str, Callable[[Any], None]]:
    """bench_core.py's span pair: the manual API and the same 27 attributes written by hand."""
    import bench_core

    import otelml

    otelml.configure(tracer_provider=provider, metrics=False)
    hand, manual = bench_core.span_pair(provider.get_tracer("hand-written"))
    return {"h": lambda _: hand(), "m": lambda _: manual()}


def _count(variant: str, calls: int, out_dir: str) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
           f"--callgrind-out-file={out_dir}/callgrind.{variant}.out",
           sys.executable, __file__, "--child", variant, "--calls", str(calls)]
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
    parser.add_argument("--child", choices=sorted({**VARIANTS, **MANUAL}), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.calls)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    variants = [*VARIANTS, *(MANUAL if args.manual else ())]
    with tempfile.TemporaryDirectory() as out_dir, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        counts = dict(zip(variants, pool.map(lambda v: _count(v, args.calls, out_dir), variants),
                          strict=True))
    per_call = {k: v / args.calls for k, v in counts.items()}
    a, b, c = per_call["a"], per_call["b"], per_call["c"]
    print(f"Python {sys.version.split()[0]}; {args.calls} calls per variant after {WARM_UP} warm-up calls; "
          "instructions on the calling thread (callgrind)")
    print()
    print("| variant | instructions per call |")
    print("|---|---:|")
    for key, label in VARIANTS.items():
        print(f"| {label} | {per_call[key]:,.0f} |")
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| (c)/(b) — target <= 1.0 | {c / b:.4f} |")
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


if __name__ == "__main__":
    main()
