"""Label joins per second of the `performance` processor, this tree against a baseline checkout.

    .venv/bin/python benchmarks/bench_label_joins.py [--baseline ../base] [--labels 200000] [--runs 5]
        [--predictions]

One run (a subprocess, so each tree imports its own code): a `performance` processor (windows of
1,000, `max_windows` raised to keep all, no warm-up) holds `--labels` predictions extracted by
`ml_extract` from requests of 512 inference spans; it then receives their labels in random order as
`label {model}` spans in requests of 512, decoded by the processor as in the sidecar, with a real
MeterProvider (an in-memory reader) so the `ml.label.delay` histogram is recorded as in the sidecar.
With `--predictions` the `predictions` processor runs before it in the same pipeline (a prediction
store in a state database file, its writer thread's CPU included, the store flushed before the clock
stops), as in a sidecar with both configured.
labels/s = labels / CPU seconds of the processing (process time: on a shared machine wall time
mostly measures the neighbours). Runs alternate between the trees; the table gives the median
of each and the ratio of medians. A baseline checkout: `git worktree add ../base <commit>`, then
`python setup.py build_ext --inplace` there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE_RUN = r"""
import os, random, sys, tempfile, time
sys.path[:0] = [".", "collector"]
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.state import StateStore
from tests.collector.predictions.spans import inference, label, request

n, with_predictions = int(sys.argv[1]), sys.argv[2] == "1"
random.seed(3)
state = StateStore(os.path.join(tempfile.mkdtemp(), "state.db") if with_predictions else ":memory:")
def make(kind, config):
    factory = registry.get("processor", kind)
    ctx = ComponentContext(kind, state, MeterProvider([InMemoryMetricReader()]), LoggerProvider())
    return factory.create(factory.config_from_dict(config), ctx)
config = {"window": {"size": 1000}, "max_windows": n // 1000 + 2, "baseline": {"warmup": 0}}
perf = make("performance", config)
extract = make("ml_extract", {})
stages = [extract]
if with_predictions:
    preds = make("predictions", {"max_spans": 4 * n})
    preds.start()
    stages.append(preds)
stages.append(perf)
def run(r):
    for stage in stages:
        r = stage.process(r)
ids = [(random.randbytes(16), random.randbytes(16).hex()) for _ in range(n)]
for s in range(0, n, 512):
    spans = [inference(t, p, {"x": 1.0}, value=1, score=0.7) for t, p in ids[s : s + 512]]
    run(request("svc", spans))
if with_predictions:
    preds.flush(600)
random.shuffle(ids)
labels = [
    request("labels", [label(p, random.randint(0, 1)) for _, p in ids[s : s + 512]]) for s in range(0, n, 512)
]
t0 = time.process_time()
for r in labels:
    run(r)
if with_predictions:
    preds.flush(600)
elapsed = time.process_time() - t0
assert perf.counts["labels_joined"] == n
print(n / elapsed)
"""


def one(tree: Path, labels: int, predictions: bool) -> float:
    out = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(labels), "1" if predictions else "0"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with (same run, alternating)")
    parser.add_argument("--labels", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--predictions", action="store_true", help="the predictions processor runs too")
    args = parser.parse_args()
    trees = {"this tree": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    rates: dict[str, list[float]] = {name: [] for name in trees}
    for i in range(args.runs):
        for name, tree in trees.items():
            rates[name].append(one(tree, args.labels, args.predictions))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()), flush=True)
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f}; labels per CPU second, median of {args.runs} runs of {args.labels:,}:")
    print("| tree | median | lowest | highest |\n|---|---:|---:|---:|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} | {min(values):,.0f} | {max(values):,.0f} |")
    if args.baseline:
        ratio = statistics.median(rates["this tree"]) / statistics.median(rates["baseline"])
        print(f"\nratio of medians (this tree / baseline): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
