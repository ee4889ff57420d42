"""Drift statistics: otelml's stats core vs Evidently's DataDriftPreset vs scipy ``ks_2samp`` per column.

Same data, same run: R reference x R current rows, 20 numeric features of different shapes, a few of
them shifted. otelml streams the current rows through one window per feature in chunks of 512 rows
(the OTel SDK's default export batch, i.e. what the sidecar receives), then evaluates every window;
"end to end" also profiles the reference (what ``otelml baseline build`` does). Evidently runs in its
own environment (it does not import under pandas 3), in a subprocess that gets the same arrays and
times only ``Report.run``. Also measured: peak memory of streaming 10k / 100k / 1M rows through the
windows (tracemalloc), and whether the three agree on which features drifted.

    .venv/bin/python benchmarks/bench_drift.py [--rows 100000] [--runs 5]

Evidently's interpreter: ``--evidently-python`` or ``$OTELML_EVIDENTLY_PYTHON``, default
``.venv-evidently/bin/python``, created on first use (``python3 -m venv .venv-evidently`` and
``pip install 'evidently==0.7.23' 'pandas>=2.1,<3' pyarrow`` in it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import stats as sps

from otelml.stats import DEFAULT_CONFIG, NumericProfile, evaluate, profile_numeric, update_numeric

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY_VENV = ROOT / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas>=2.1,<3", "pyarrow>=14")
CHUNK = 512
N_FEATURES = 20
# feature index -> shift of the current data in reference standard deviations
SHIFTS = {0: 1.0, 5: 0.5, 10: 0.25, 15: -0.5}
SHAPES = ("normal", "lognormal", "exponential", "uniform", "student_t5")


def _sample(rng: np.random.Generator, shape: str, n: int) -> tuple[np.ndarray, float]:
    """Values and their population standard deviation."""
    if shape == "normal":
        return rng.normal(50, 10, n), 10.0
    if shape == "lognormal":
        return rng.lognormal(3, 0.5, n), float(np.sqrt((np.exp(0.25) - 1) * np.exp(6.25)))
    if shape == "exponential":
        return rng.exponential(5, n), 5.0
    if shape == "uniform":
        return rng.uniform(0, 1, n), float(np.sqrt(1 / 12))
    return rng.standard_t(5, n), float(np.sqrt(5 / 3))


def make_data(rows: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """(reference, current) as float64 arrays of shape (features, rows)."""
    rng = np.random.default_rng(seed)
    ref = np.empty((N_FEATURES, rows))
    cur = np.empty((N_FEATURES, rows))
    for j in range(N_FEATURES):
        shape = SHAPES[j % len(SHAPES)]
        ref[j] = _sample(rng, shape, rows)[0]
        values, sd = _sample(rng, shape, rows)
        cur[j] = values + SHIFTS.get(j, 0.0) * sd
    return ref, cur


def stream(
    profiles: list[NumericProfile], cur: np.ndarray, repeat: int = 1, per_column: bool = False
) -> list:
    """Feed ``cur`` (``repeat`` times) through one window per feature in CHUNK-row requests, as the
    sidecar's drift processor does (``update_numeric`` on each request's rows x features matrix), or
    with one ``NumericWindow.update`` per column and request."""
    windows = [p.new_window() for p in profiles]
    rows = cur.shape[1]
    matrix = cur.T  # rows x features, as a request's columns are assembled
    for _ in range(repeat):
        for lo in range(0, rows, CHUNK):
            if per_column:
                for j, w in enumerate(windows):
                    w.update(cur[j, lo : lo + CHUNK])
            else:
                update_numeric(windows, matrix[lo : lo + CHUNK])
    return windows


def otelml_end_to_end(ref: np.ndarray, cur: np.ndarray) -> list[bool]:
    profiles = [profile_numeric(ref[j]) for j in range(N_FEATURES)]
    return otelml_windows(profiles, cur)


def otelml_windows(profiles: list[NumericProfile], cur: np.ndarray, per_column: bool = False) -> list[bool]:
    windows = stream(profiles, cur, per_column=per_column)
    return [
        any(s.alert for s in evaluate(p, w, DEFAULT_CONFIG, n_tests=N_FEATURES))
        for p, w in zip(profiles, windows, strict=True)
    ]


def scipy_ks(ref: np.ndarray, cur: np.ndarray) -> list[float]:
    return [float(sps.ks_2samp(ref[j], cur[j]).pvalue) for j in range(N_FEATURES)]


EVIDENTLY_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset
    d = sys.argv[1]
    cols = [f"f{j:02d}" for j in range(int(sys.argv[2]))]
    ref = pd.DataFrame(np.load(d + "/ref.npy").T, columns=cols)
    cur = pd.DataFrame(np.load(d + "/cur.npy").T, columns=cols)
    print(json.dumps({"version": __import__("evidently").__version__}), flush=True)
    for line in sys.stdin:
        t, c = time.perf_counter(), time.process_time()
        snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
        scores = {}
        for m in snap.dict()["metrics"]:
            cfg = m.get("config", {})
            if cfg.get("type", "").endswith("ValueDrift"):
                scores[cfg["column"]] = {"value": m["value"], "method": cfg.get("method"),
                                         "threshold": cfg.get("threshold")}
        print(json.dumps({"time": elapsed, "cpu": cpu, "scores": scores}), flush=True)
    """
)


def ensure_evidently_venv() -> str:
    """The default Evidently interpreter, creating its virtual environment when missing."""
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {EVIDENTLY_VENV} for Evidently (pandas < 3) ...", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True)
    return str(python)


class Evidently:
    """Evidently in its own interpreter, holding the same arrays as DataFrames; one report per ``run()``."""

    def __init__(self, python: str, ref: np.ndarray, cur: np.ndarray) -> None:
        self._dir = tempfile.TemporaryDirectory()
        np.save(f"{self._dir.name}/ref.npy", ref)
        np.save(f"{self._dir.name}/cur.npy", cur)
        self._proc = subprocess.Popen(
            [python, "-c", EVIDENTLY_WORKER, self._dir.name, str(N_FEATURES)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.version = self._read()["version"]

    def _read(self) -> dict:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise SystemExit(f"the Evidently worker exited with {self._proc.wait()}")
        return json.loads(line)

    def run(self) -> dict:
        assert self._proc.stdin is not None
        self._proc.stdin.write("run\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        self._dir.cleanup()


def peak_memory(profiles: list[NumericProfile], block: np.ndarray, rows: int) -> tuple[int, int]:
    """(tracemalloc peak while streaming ``rows`` rows, bytes of the 20 windows' state)."""
    repeat, rest = divmod(rows, block.shape[1])
    assert rest == 0
    tracemalloc.start()
    tracemalloc.reset_peak()
    windows = stream(profiles, block, repeat)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state = sum(w.counts.nbytes + w.sums.nbytes + 48 for w in windows)
    return peak, state


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--evidently-python", default=os.environ.get("OTELML_EVIDENTLY_PYTHON"),
                    help="Python with Evidently installed (default: .venv-evidently, created if missing)")
    args = ap.parse_args()
    if not args.evidently_python:
        args.evidently_python = ensure_evidently_venv()

    ref, cur = make_data(args.rows)
    profiles = [profile_numeric(ref[j]) for j in range(N_FEATURES)]
    evidently = Evidently(args.evidently_python, ref, cur)
    ev_key = f"Evidently {evidently.version} DataDriftPreset"
    names = (
        "otelml end to end", "otelml windows", "otelml windows, per-column update", "scipy ks_2samp", ev_key
    )
    timings: dict[str, list[float]] = {k: [] for k in names}
    decisions: list[bool] = []
    ev: dict = {}
    cpu: dict[str, list[float]] = {k: [] for k in names}

    def timed(name: str, fn, *a):  # type: ignore[no-untyped-def]
        t, c = time.perf_counter(), time.process_time()
        result = fn(*a)
        timings[name].append(time.perf_counter() - t)
        cpu[name].append(time.process_time() - c)
        return result

    # One run of each implementation per round, so that all see the same machine load.
    for _ in range(args.runs):
        decisions = timed("otelml end to end", otelml_end_to_end, ref, cur)
        timed("otelml windows", otelml_windows, profiles, cur)
        timed("otelml windows, per-column update", otelml_windows, profiles, cur, True)
        pvalues = timed("scipy ks_2samp", scipy_ks, ref, cur)
        ev = evidently.run()
        timings[ev_key].append(ev["time"])
        cpu[ev_key].append(ev["cpu"])
    evidently.close()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.rows:,} reference x {args.rows:,} current rows, {N_FEATURES} numeric features, "
          f"{args.runs} rounds, medians, chunks of {CHUNK} rows; {os.cpu_count()} CPUs, "
          f"load average {load}\n")
    for title, table in (("wall-clock", timings), ("process CPU", cpu)):
        med = {k: statistics.median(v) for k, v in table.items()}
        print(f"| implementation | median {title} s | runs (s) | Evidently / this (medians) "
              "| median per-round ratio |")
        print("|---|---|---|---|---|")
        for k, v in table.items():
            per_round = statistics.median(e / x for e, x in zip(table[ev_key], v, strict=True))
            print(f"| {k} | {med[k]:.4f} | {', '.join(f'{x:.3f}' for x in v)} | {med[ev_key] / med[k]:.0f}x "
                  f"| {per_round:.0f}x |")
        print()

    windows = stream(profiles, cur)
    scores = [
        next(s for s in evaluate(p, w) if s.method == "wasserstein")
        for p, w in zip(profiles, windows, strict=True)
    ]
    print("\n| feature | shape | shift (SD) | otelml wasserstein | otelml drift | scipy KS p | scipy drift "
          "(p < 0.05/20) | Evidently score (method) | Evidently drift |")
    print("|---|---|---|---|---|---|---|---|---|")
    agree_scipy = agree_ev = 0
    for j in range(N_FEATURES):
        e = ev["scores"].get(f"f{j:02d}", {})
        e_drift = e.get("value") is not None and e["value"] >= e["threshold"]
        s_drift = pvalues[j] < 0.05 / N_FEATURES
        agree_scipy += s_drift == decisions[j]
        agree_ev += e_drift == decisions[j]
        print(f"| f{j:02d} | {SHAPES[j % len(SHAPES)]} | {SHIFTS.get(j, 0.0):+.2f} | {scores[j].value:.4f} | "
              f"{decisions[j]} | {pvalues[j]:.2g} | {s_drift} | {e.get('value', float('nan')):.4f} "
              f"({e.get('method')}) | {e_drift} |")
    print(f"\nagreement on which features drifted: otelml vs scipy {agree_scipy}/{N_FEATURES}, "
          f"otelml vs Evidently {agree_ev}/{N_FEATURES}")

    print("\n| rows streamed (20 features) | tracemalloc peak | window state |")
    print("|---|---|---|")
    block = cur[:, :10_000]
    for rows in (10_000, 100_000, 1_000_000):
        peak, state = peak_memory(profiles, block, rows)
        print(f"| {rows:,} | {peak / 1024:.0f} KiB | {state / 1024:.1f} KiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
