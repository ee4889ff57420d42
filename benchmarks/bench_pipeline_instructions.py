"""Instructions the sidecar's traces hot path executes, counted by valgrind (steady on a shared machine).

    .venv/bin/python benchmarks/bench_pipeline_instructions.py [--requests 20] [--compare TREE]

Each configuration runs in its own `valgrind --tool=callgrind` process that builds the processors as
benchmarks/bench_drift_processor.py does (ml_extract, + drift after a 6,144-span baseline warm-up),
then pushes `--requests` requests of 512 inference spans through them inside one
`functools.reduce` call, the only region counted (calling thread only: the drift worker's window
scoring is not included). Configurations: `extract`; `drift` (stable data); `tag` (one feature
shifted by 3 SD, so most spans are tagged with ml.drift.features). `--compare TREE` counts another
checkout the same way (its own bench_drift_processor.py and C extension built in place) and prints
the ratio. Needs valgrind; about two minutes per tree on two cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("extract", "drift", "tag")

_CHILD = """
import functools, sys, tempfile
tree, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree + "/benchmarks")
import bench_drift_processor as b
warm = b.make_requests(12, 0.0, seed=1)
reqs = b.make_requests(n, 3.0 if kind == "tag" else 0.0, seed=2)
with tempfile.TemporaryDirectory() as d:
    procs = b.build("extract" if kind == "extract" else "drift", warm, d)
    def one(acc, raw):
        req = b.TelemetryRequest(signal=b.Signal.TRACES, raw=raw)
        for p in procs:
            req = p.process(req)
        req.payload()
        return acc
    functools.reduce(one, reqs, None)
    for p in procs:
        p.shutdown()
"""


def count(tree: Path, kind: str, requests: int) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "collector"), str(tree)])}
    cmd = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
        "--callgrind-out-file=/dev/null", sys.executable, "-c", _CHILD, str(tree), kind, str(requests),
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"{tree} {kind}: valgrind run failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--compare", type=Path, metavar="TREE", help="another checkout to count the same way")
    args = ap.parse_args()
    spans = args.requests * 512
    print(f"| configuration | instructions/span | {'base | this/base |' if args.compare else ''}")
    print(f"|---|---:|{'---:|---:|' if args.compare else ''}")
    for kind in KINDS:
        this = count(ROOT, kind, args.requests)
        row = f"| {kind} | {this / spans:,.0f} |"
        if args.compare:
            base = count(args.compare.resolve(), kind, args.requests)
            row += f" {base / spans:,.0f} | {this / base:.3f} |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
