"""Data-quality gate: otelml vs Great Expectations on the same suite and data, in the same run.

1,000,000 rows x 20 columns, one Great Expectations suite of 12 expectations of the common kinds (row
count, column exists, not-null with and without `mostly`, between, in-set, unique, regex, mean, stdev,
quantiles), some failing. Each engine validates the same DataFrame `--runs` times (default 5 otelml,
3 GE); the table reports medians and the ratio, and the script exits 1 unless every expectation gets
the same verdict from both. GE runs in a fresh ephemeral context with a pandas DataFrame asset per run; its
timing covers `batch.validate(suite)` only (context and batch are built outside the timed part),
otelml's covers `otelml.quality.validate(df, suite)` including parsing the suite. Each timed call starts
after `gc.collect()`, so neither engine pays for collecting the other's garbage.

    .venv/bin/python benchmarks/bench_validate.py [--rows 1000000] [--runs 5] [--ge-runs 3]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otelml import quality

SUITE = [
    ("expect_table_row_count_to_be_between", {"min_value": 500_000, "max_value": 2_000_000}),
    ("expect_column_to_exist", {"column": "amount"}),
    ("expect_column_values_to_not_be_null", {"column": "amount", "mostly": 0.99}),
    ("expect_column_values_to_not_be_null", {"column": "country"}),
    ("expect_column_values_to_be_between", {"column": "score", "min_value": 0.0, "max_value": 1.0}),
    ("expect_column_values_to_be_between", {"column": "age", "min_value": 18, "max_value": 90,
                                            "mostly": 0.999}),
    ("expect_column_values_to_be_in_set", {"column": "country", "value_set": ["US", "DE", "FR", "GB", "ES"]}),
    ("expect_column_values_to_be_unique", {"column": "customer_id"}),
    ("expect_column_values_to_match_regex", {"column": "email", "regex": r"^[a-z0-9._]+@[a-z]+\.[a-z]{2,}$"}),
    ("expect_column_mean_to_be_between", {"column": "amount", "min_value": 95.0, "max_value": 105.0}),
    ("expect_column_stdev_to_be_between", {"column": "f0", "min_value": 0.9, "max_value": 1.1}),
    ("expect_column_quantile_values_to_be_between", {"column": "f1", "quantile_ranges": {
        "quantiles": [0.05, 0.5, 0.95], "value_ranges": [[-1.8, -1.5], [-0.1, 0.1], [1.5, 1.8]]}}),
]


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(4.0, 25.0, n)
    amount[rng.random(n) < 0.005] = np.nan  # 0.5% missing: passes mostly 0.99
    age = rng.integers(18, 91, n)
    age[rng.choice(n, 50, replace=False)] = 150  # 0.005%: passes mostly 0.999
    score = rng.random(n)
    score[rng.choice(n, 3, replace=False)] = 1.5  # fails
    country = rng.choice(np.array(["US", "DE", "FR", "GB", "ES", "XX"], dtype=object), n,
                         p=[0.4, 0.2, 0.15, 0.15, 0.0999, 0.0001])  # unseen "XX": fails
    ids = np.arange(n, dtype=np.int64)
    ids[[10, 20]] = 5  # a duplicate: fails
    names = np.array([f"user{i}" for i in range(1000)], dtype=object)
    email = names[rng.integers(0, 1000, n)] + "@example.com"
    email[[7, 70]] = "broken"
    cols: dict[str, object] = {
        "customer_id": ids, "amount": amount, "age": age, "score": score, "country": country,
        "email": email, "segment": rng.choice(np.array(["a", "b", "c"], dtype=object), n),
    }
    for i in range(13):
        cols[f"f{i}"] = rng.normal(0, 1, n)
    return pd.DataFrame(cols)


def run_otelml(df: pd.DataFrame, suite: dict) -> tuple[float, list[bool]]:
    gc.collect()  # as before GE's runs: no collection of the other engine's garbage inside the timing
    t = time.perf_counter()
    result = quality.validate(df, suite)
    return time.perf_counter() - t, [r.success for r in result.results]


def ge_batch(df: pd.DataFrame):
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    asset = ctx.data_sources.add_pandas("bench").add_dataframe_asset("df")
    return gx, asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df})


def run_ge(gx, batch, suite: dict) -> tuple[float, list[bool]]:
    ge_suite = gx.ExpectationSuite(name=f"bench-{time.perf_counter_ns()}", expectations=[
        {**e, "meta": {"i": i}} for i, e in enumerate(suite["expectations"])])
    gc.collect()
    t = time.perf_counter()
    out = batch.validate(ge_suite)
    elapsed = time.perf_counter() - t
    verdicts = dict.fromkeys(range(len(suite["expectations"])), False)
    for r in out.results:
        verdicts[r.expectation_config.meta["i"]] = bool(r.success)
    return elapsed, [verdicts[i] for i in range(len(verdicts))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ge-runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    suite = {"expectations": [{"type": t, "kwargs": kw} for t, kw in SUITE]}
    df = make_data(args.rows)
    print(f"data: {len(df):,} rows x {df.shape[1]} columns, {len(SUITE)} expectations; "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs", file=sys.stderr)

    import great_expectations  # noqa: F401 - imported once, outside every timing

    # Rounds alternate the engines so that load from other processes hits both alike.
    ours, theirs, setups = [], [], []
    for r in range(max(args.runs, args.ge_runs)):
        if r < args.runs:
            ours.append(run_otelml(df, suite))
        if r < args.ge_runs:  # a fresh context and batch per run: no metric cache carried over
            t = time.perf_counter()
            gx, batch = ge_batch(df)
            setups.append(time.perf_counter() - t)
            theirs.append(run_ge(gx, batch, suite))
    paired = [g / o for (o, _), (g, _) in zip(ours, theirs, strict=False)]

    ours_verdicts, ge_verdicts = ours[0][1], theirs[0][1]
    same = ours_verdicts == ge_verdicts and all(v == ours_verdicts for _, v in ours) \
        and all(v == ge_verdicts for _, v in theirs)
    o_med = statistics.median(t for t, _ in ours)
    g_med = statistics.median(t for t, _ in theirs)
    print("| engine | runs | median (s) | min (s) | max (s) | GE validate / this |")
    print("|---|---|---|---|---|---|")
    rows = (("otelml.quality.validate", ours, o_med), ("Great Expectations (pandas)", theirs, g_med))
    for name, runs, med in rows:
        times = [t for t, _ in runs]
        ratio = f"{g_med / med:.1f}x (otelml faster)" if runs is ours else "1.0x"
        print(f"| {name} | {len(times)} | {med:.3f} | {min(times):.3f} | {max(times):.3f} | {ratio} |")
    e2e = [s + t for s, (t, _) in zip(setups, theirs, strict=True)]
    e_med = statistics.median(e2e)
    print(f"| Great Expectations incl. context + batch setup | {len(e2e)} | {e_med:.3f} | {min(e2e):.3f} "
          f"| {max(e2e):.3f} | {e_med / o_med:.1f}x (otelml faster) |")
    print(f"\nper-round ratio GE validate / otelml (rounds with both): "
          f"median {statistics.median(paired):.1f}x, "
          f"min {min(paired):.1f}x, max {max(paired):.1f}x")
    failed = [SUITE[i][0] for i, ok in enumerate(ours_verdicts) if not ok]
    print(f"verdicts identical: {'yes' if same else 'NO'} ({len(SUITE) - len(failed)} pass, "
          f"{len(failed)} fail in both: {', '.join(sorted(set(failed)))})")
    if not same:
        for i, (a, b) in enumerate(zip(ours_verdicts, ge_verdicts, strict=True)):
            if a != b:
                print(f"  differs: {SUITE[i]}: otelml {a}, GE {b}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
