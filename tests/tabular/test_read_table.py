"""One tabular reader behind `otelml baseline build` and `otelml validate`: same formats, same errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from otelml.cli import main
from otelml.stats import load_baseline
from otelml.tabular import TableFileError, read_table

FRAME = pd.DataFrame({"age": [31.0, 45.5, 52.0, 28.0], "income": [4.1, 5.2, 6.3, 3.9],
                      "country": ["fr", "de", "fr", "it"]})


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    FRAME.to_csv(tmp_path / "x.csv", index=False)
    FRAME.to_csv(tmp_path / "x.tsv", sep="\t", index=False)
    FRAME.to_csv(tmp_path / "x.csv.gz", index=False)
    FRAME.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    FRAME.to_csv(tmp_path / "pipe.dat", sep="|", index=False)
    FRAME.to_parquet(tmp_path / "x.parquet")
    (tmp_path / "x.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("name", ["x.csv", "x.tsv", "x.csv.gz", "x.parquet"])
def test_every_format_reads_the_same_frame(tables: Path, name: str) -> None:
    pd.testing.assert_frame_equal(read_table(tables / name), FRAME)


def test_explicit_delimiter_reads_any_text_file(tables: Path) -> None:
    pd.testing.assert_frame_equal(read_table(tables / "pipe.dat", delimiter="|"), FRAME)
    pd.testing.assert_frame_equal(read_table(tables / "semi.csv", delimiter=";"), FRAME)
    pd.testing.assert_frame_equal(read_table(tables / "x.tsv", delimiter=r"\t"), FRAME)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("semi.csv", "semi.csv: the header 'age;income;country' reads as one column"),
        ("x.json", "x.json: unknown data format '.json'"),
        ("pipe.dat", "pipe.dat: unknown data format '.dat'"),
        ("missing.tsv", "missing.tsv: data file not found"),
    ],
)
def test_bad_files_give_the_same_error_from_both_commands(tables, tmp_path, capsys, name, message):
    with pytest.raises(TableFileError, match="^" + str(tables / name)):
        read_table(tables / name)
    code = main(["baseline", "build", str(tables / name), "--model", "m", "--out", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "b.json").exists()
    (tmp_path / "e.yaml").write_text("columns:\n  age:\n    not_null: true\n")
    code = main(["validate", str(tables / name), "-e", str(tmp_path / "e.yaml"), "--no-audit"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_tsv_baseline_profiles_three_features_not_one(tables: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "b.json"
    assert main(["baseline", "build", str(tables / "x.tsv"), "--model", "m", "--out", str(out)]) == 0
    assert list(load_baseline(out).features) == ["age", "income", "country"]
    assert main(["baseline", "build", str(tables / "pipe.dat"), "--delimiter", "|", "--model", "m",
                 "--out", str(out)]) == 0
    b = load_baseline(out)
    assert list(b.features) == ["age", "income", "country"] and b.row_count == 4
    assert b.features["age"].mean == pytest.approx(FRAME["age"].mean())


def test_validate_reads_tsv_with_the_delimiter_flag(tables: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "e.yaml").write_text("columns:\n  country:\n    in_set: [fr, de, it]\n")
    assert main(["validate", str(tables / "pipe.dat"), "--delimiter", "|", "-e", str(tmp_path / "e.yaml"),
                 "--no-audit"]) == 0
    assert main(["validate", str(tables / "x.tsv"), "-e", str(tmp_path / "e.yaml"), "--no-audit"]) == 0
    (tmp_path / "bad.yaml").write_text("columns:\n  country:\n    in_set: [fr, de]\n")
    assert main(["validate", str(tables / "x.tsv"), "-e", str(tmp_path / "bad.yaml"), "--no-audit"]) == 1
