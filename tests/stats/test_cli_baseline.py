"""`otelml baseline build` on real CSV and Parquet files: output file, exit codes, error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otelml.cli import main
from otelml.stats import load_baseline, score_values


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(8)
    n = 3_000
    df = pd.DataFrame(
        {
            "Customer Age": rng.normal(45, 10, n).round(1),
            "balance": rng.lognormal(8, 1, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "customer_id": [f"c{i}" for i in range(n)],
            "predicted_default": rng.random(n),
            "defaulted": rng.integers(0, 2, n),
        }
    )
    df.loc[df.index % 25 == 0, "balance"] = np.nan
    d = tmp_path_factory.mktemp("data")
    df.to_csv(d / "train.csv", index=False)
    df.to_parquet(d / "train.parquet")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b\n")
    (d / "all_missing.csv").write_text("notes,b\n,1\n,2\n")
    (d / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    return d


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["train.csv", "train.parquet"])
def test_build_writes_a_loadable_baseline(name: str, data_dir: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "baseline.json"
    code, out, err = _run(
        [
            "baseline", "build", str(data_dir / name), "--model", "credit-risk", "--version", "2",
            "--exclude", "customer_id", "--prediction", "predicted_default", "--target", "defaulted",
            "--bins", "40", "--top-k", "3", "--out", str(out_file),
        ],
        capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "3000 rows, 3 features (2 numeric, 1 categorical)" in out
    b = load_baseline(out_file)
    assert (b.model, b.version, b.row_count) == ("credit-risk", "2", 3000)
    assert list(b.features) == ["customer_age", "balance", "region"]
    df = pd.read_csv(data_dir / "train.csv")
    counts = df["region"].value_counts()
    top3 = sorted(counts.index, key=lambda c: (-counts[c], c))[:3]
    assert b.features["region"].categories == tuple(top3)
    assert b.features["region"].counts[-1] == counts.min()  # the 4th region is "other" with --top-k 3
    assert len(b.features["customer_age"].edges) >= 40
    assert b.features["balance"].null_count == 120
    assert b.prediction is not None and b.prediction.column == "predicted_default"
    assert b.target is not None and b.target.column == "defaulted"
    assert score_values(b.features["customer_age"], df["Customer Age"]).value < 0.01
    assert score_values(b.features["customer_age"], df["Customer Age"] + 10).alert


def test_csv_and_parquet_give_the_same_profiles(data_dir: Path, tmp_path: Path, capsys) -> None:
    docs = []
    for name in ("train.csv", "train.parquet"):
        out_file = tmp_path / f"{name}.json"
        assert (
            _run(["baseline", "build", str(data_dir / name), "--model", "m", "--out", str(out_file)], capsys)[
                0
            ]
            == 0
        )
        docs.append(json.loads(out_file.read_text()))
    for doc in docs:
        doc.pop("created"), doc.pop("source")
    assert docs[0]["features"].keys() == docs[1]["features"].keys()
    for key in docs[0]["features"]:
        a, b = docs[0]["features"][key], docs[1]["features"][key]
        assert a.keys() == b.keys()
        for field in a:
            if isinstance(a[field], list) and a[field] and isinstance(a[field][0], float):
                assert np.allclose(a[field], b[field], rtol=1e-9), (key, field)
            else:
                assert a[field] == b[field], (key, field)


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ("missing.csv", [], "missing.csv: data file not found"),
        ("empty.csv", [], "empty.csv: the file is empty"),
        ("header_only.csv", [], "header_only.csv: no rows to build a baseline from"),
        ("corrupt.parquet", [], "corrupt.parquet: cannot read"),
        ("all_missing.csv", [], "column 'notes': no numeric values to profile"),
        (
            "train.csv",
            ["--exclude", "Customer_Age"],
            "column 'Customer_Age' given to --exclude is not in the data",
        ),
        ("train.csv", ["--prediction", "pred"], "column 'pred' given to --prediction is not in the data"),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_column(
    data, extra, message, data_dir, tmp_path, capsys
) -> None:
    out_file = tmp_path / "b.json"
    code, out, err = _run(
        ["baseline", "build", str(data_dir / data), "--model", "m", *extra, "--out", str(out_file)], capsys
    )
    assert code == 2 and out == ""
    assert err.startswith("otelml baseline build: error: ") and message in err
    assert not out_file.exists()


def test_unwritable_output_exits_2_naming_it(data_dir: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "no-such-dir" / "b.json"
    code, _, err = _run(
        ["baseline", "build", str(data_dir / "train.csv"), "--model", "m", "--out", str(target)], capsys
    )
    assert code == 2 and f"{target}: cannot write" in err


def test_usage_errors_exit_2(data_dir: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["baseline", "build", str(data_dir / "train.csv"), "--out", "x.json"])
    assert exc.value.code == 2 and "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["baseline", "build", str(data_dir / "train.csv"), "--model", "m", "--bins", "0", "--out", "x"])
    assert exc.value.code == 2 and "expected a positive integer" in capsys.readouterr().err
    assert main(["baseline"]) == 2


def test_installed_command_runs_as_a_process(data_dir: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "b.json"
    ok = subprocess.run(
        [sys.executable, "-m", "otelml.cli", "baseline", "build", str(data_dir / "train.parquet"),
         "--model", "m", "--out", str(out_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert load_baseline(out_file).row_count == 3000
    bad = subprocess.run(
        [sys.executable, "-m", "otelml.cli", "baseline", "build", str(tmp_path / "nope.csv"), "--model", "m",
         "--out", str(out_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope.csv: data file not found" in bad.stderr
