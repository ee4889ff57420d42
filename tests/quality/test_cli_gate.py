"""The issue's "Done when", as a new user would run it: baseline from a training CSV, a clean batch passes
(exit 0), a damaged batch fails (exit 1) with every failure named, a broken expectations file exits 2
naming key and line, and the audit store holds every run."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

EXPECTATIONS = """\
version: 1
table:
  row_count: {min: 1000}
columns:
  id:
    not_null: true
    unique: true
  age:
    type: int
    between: {min: 18, max: 100}
    drift: {method: wasserstein, threshold: 0.1}
  income:
    type: float
    not_null: {mostly: 0.99}
    mean: {min: 40000, max: 60000}
    drift: {method: wasserstein, threshold: 0.1}
  country:
    in_set: [US, DE, FR, GB]
    drift: {method: js, threshold: 0.1}
  email:
    regex: '^[a-z0-9.]+@[a-z]+\\.[a-z]+$'
"""

N = 4000


def make_batch(seed: int, n: int = N, id_start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(id_start, id_start + n),
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50_000, 15_000, n).round(2),
        "country": rng.choice(["US", "DE", "FR", "GB"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "email": [f"user{i}@example.com" for i in range(id_start, id_start + n)],
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Training CSV and its baseline, built once with the real `otelml baseline build`."""
    d = tmp_path_factory.mktemp("train")
    train = make_batch(1)
    train.to_csv(d / "train.csv", index=False)
    proc = subprocess.run([sys.executable, "-m", "otelml.cli", "baseline", "build", "train.csv", "--model",
                           "credit", "--exclude", "id", "email", "--out", "baseline.json"],
                          cwd=d, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return d, train


@pytest.fixture
def files(tmp_path: Path, built):
    d, train = built
    for name in ("train.csv", "baseline.json"):
        shutil.copy(d / name, tmp_path / name)
    (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
    return tmp_path, train


def test_clean_batch_passes_and_damaged_batch_fails_with_every_failure_named(files, otelml, audit_db):
    tmp_path, train = files
    make_batch(2, id_start=10_000).to_csv(tmp_path / "clean.csv", index=False)
    clean = otelml("validate", "clean.csv", "--expectations", "expectations.yaml",
                   "--baseline", "baseline.json")
    assert clean.code == 0, clean.stdout + clean.stderr
    assert "PASSED: 13 of 13 expectations passed on 4000 rows" in clean.stdout

    bad = make_batch(3, id_start=20_000)
    null_rows = [5, 77, 300, *range(1000, 1100)]  # 103 of 4000 missing: 2.6% > 1% allowed
    bad.loc[null_rows, "income"] = np.nan
    bad["income"] += 15_000  # one standard deviation
    bad.loc[[10, 20], "age"] = [150, 7]
    bad.loc[[3, 33, 333], "country"] = "XX"
    bad.loc[42, "email"] = "not-an-email"
    bad.to_parquet(tmp_path / "bad.parquet")
    run = otelml("validate", "bad.parquet", "-e", "expectations.yaml", "--baseline", "baseline.json",
                 "--format", "json", "--report", "report.json")
    assert run.code == 1, run.stderr
    report = run.json()
    assert json.loads((tmp_path / "report.json").read_text()) == report
    by = {(r["column"], r["expectation"]): r for r in report["results"]}
    failed = {key for key, r in by.items() if not r["success"]}
    assert failed == {("income", "not_null"), ("income", "mean"), ("income", "drift"), ("age", "between"),
                      ("country", "in_set"), ("email", "regex")}

    nulls = by[("income", "not_null")]
    assert nulls["unexpected_count"] == 103 and nulls["unexpected_percent"] == pytest.approx(103 / 40)
    assert [e["row"] for e in nulls["unexpected_examples"]] == [5, 77, 300, 1000, 1001]

    ages = by[("age", "between")]
    assert ages["unexpected_count"] == 2
    assert ages["observed_value"] == {"min": 7, "max": 150}
    assert [(e["row"], e["value"]) for e in ages["unexpected_examples"]] == [(10, 150), (20, 7)]

    countries = by[("country", "in_set")]
    assert countries["observed_value"]["unexpected_values"] == ["XX"]
    assert [e["row"] for e in countries["unexpected_examples"]] == [3, 33, 333]

    emails = by[("email", "regex")]["unexpected_examples"]
    assert [(e["row"], e["value"]) for e in emails] == [(42, "not-an-email")]

    mean = by[("income", "mean")]
    assert mean["observed_value"] == pytest.approx(bad["income"].dropna().mean())

    drift = by[("income", "drift")]
    ref = train["income"].to_numpy()
    cur = bad["income"].dropna().to_numpy()
    # Independent reference: scipy's Wasserstein distance normalised by the reference std.
    expected = stats.wasserstein_distance(ref, cur) / ref.std(ddof=1)
    assert drift["observed_value"]["method"] == "wasserstein"
    assert drift["observed_value"]["value"] == pytest.approx(expected, rel=0.1)
    assert drift["unexpected_examples"], "a drifted column shows rows from the bins that gained mass"
    assert by[("age", "drift")]["success"] and by[("country", "drift")]["success"]

    table = otelml("validate", "bad.parquet", "-e", "expectations.yaml", "--baseline", "baseline.json")
    assert table.code == 1
    assert "FAIL  income   not_null mostly 0.99" in table.stdout
    assert "FAIL age: between (expectations.yaml:10): examples: row 10: 150, row 20: 7" in table.stdout
    assert "FAILED: 7 of 13 expectations passed on 4000 rows" in table.stdout

    with sqlite3.connect(audit_db) as conn:
        runs = conn.execute("SELECT status, data, row_count, failed, report FROM runs ORDER BY id").fetchall()
        per_exp = conn.execute("SELECT COUNT(*), SUM(success) FROM results").fetchone()
    assert [(s, d, n, f) for s, d, n, f, _ in runs] == [
        ("passed", "clean.csv", 4000, 0),
        ("failed", "bad.parquet", 4000, 6),
        ("failed", "bad.parquet", 4000, 6),
    ]
    assert json.loads(runs[1][4])["results"] == report["results"]
    assert per_exp == (39, 13 + 7 + 7)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("columns:\n  age:\n    between: {min: eighteen}\n", "expectations.yaml:3: columns.age.between.min"),
        ("columns:\n  age:\n    not_null: true\n    betwen: {min: 1}\n",
         "expectations.yaml:4: columns.age.betwen"),
        ("columns:\n  age:\n    in_set:\n      values: []\n",
         "expectations.yaml:4: columns.age.in_set.values"),
        ("columns:\n  email:\n    regex: '(['\n", "expectations.yaml:3: columns.email.regex.pattern"),
        ("columns:\n  age:\n    not_null: {mostly: 1.5}\n",
         "expectations.yaml:3: columns.age.not_null.mostly"),
        ("table:\n  row_count: {min: 10, max: 1}\n", "expectations.yaml:2: table.row_count.min"),
        ("columns:\n  age:\n    drift: {method: kl}\n", "expectations.yaml:3: columns.age.drift.method"),
        ("columns:\n  age: [\n", "expectations.yaml:3: invalid YAML"),
    ],
)
def test_broken_expectations_file_exits_2_naming_line_and_key(files, otelml_inproc, audit_db, text, where):
    tmp_path, _ = files
    (tmp_path / "expectations.yaml").write_text(text)
    run = otelml_inproc("validate", "train.csv", "--expectations", "expectations.yaml")
    assert run.code == 2
    assert run.stdout == ""
    assert f"otelml validate: error: {where}" in run.stderr
    with sqlite3.connect(audit_db) as conn:
        assert conn.execute("SELECT status, error FROM runs").fetchall() == [("error", run.stderr.split(
            "error: ", 1)[1].strip())]


def test_broken_expectations_exit_2_from_a_real_process(files, otelml):
    tmp_path, _ = files
    (tmp_path / "expectations.yaml").write_text("columns:\n  age:\n    between: {min: 1, max: 0}\n")
    run = otelml("validate", "train.csv", "--expectations", "expectations.yaml")
    assert run.code == 2
    assert "expectations.yaml:3: columns.age.between.min: min (1) is greater than max (0)" in run.stderr


def test_input_errors_exit_2_and_name_the_file(files, otelml_inproc):
    otelml = otelml_inproc
    tmp_path, _ = files
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    cases = {
        ("missing.csv", "expectations.yaml"): "missing.csv: data file not found",
        ("empty.csv", "expectations.yaml"): "empty.csv: the file is empty",
        ("garbage.parquet", "expectations.yaml"): "garbage.parquet: cannot read",
        ("train.csv", "nope.yaml"): "nope.yaml: file not found",
    }
    for (data, exp), message in cases.items():
        run = otelml("validate", data, "-e", exp)
        assert run.code == 2, (data, exp, run.stderr)
        assert message in run.stderr
    run = otelml("validate", "train.csv", "-e", "expectations.yaml")  # drift needs a baseline
    assert run.code == 2 and "needs a baseline; pass --baseline" in run.stderr
    as_json = otelml("validate", "missing.csv", "-e", "expectations.yaml", "--format", "json").json()
    assert as_json["status"] == "error" and as_json["error"] == "missing.csv: data file not found"
    assert as_json["results"] == [] and as_json["success"] is False
    run = otelml("validate", "train.csv", "-e", "expectations.yaml", "--baseline", "nope.json")
    assert run.code == 2 and "nope.json: baseline file not found" in run.stderr
    assert otelml("validate", "train.csv").code == 2  # usage: --expectations is required


def test_audit_command_lists_and_shows_runs(files, otelml_inproc):
    otelml = otelml_inproc
    ok = otelml("validate", "train.csv", "-e", "expectations.yaml", "--baseline", "baseline.json")
    assert ok.code == 0
    otelml("validate", "missing.csv", "-e", "expectations.yaml")
    listing = otelml("audit", "--format", "json")
    assert listing.code == 0
    runs = listing.json()
    assert [(r["status"], r["data"]) for r in runs] == [("error", "missing.csv"), ("passed", "train.csv")]
    shown = otelml("audit", runs[1]["run_id"][:8])
    assert shown.code == 0 and shown.json()["statistics"] == {"evaluated": 13, "successful": 13,
                                                               "unsuccessful": 0}
    assert "passed" in otelml("audit").stdout
    assert otelml("audit", "ffffffffff").code == 2
