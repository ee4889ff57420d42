"""The baseline file: build, save, load, and clear errors naming the file and key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otelml import __version__
from otelml.stats import (
    FORMAT_VERSION,
    Baseline,
    BaselineError,
    CategoricalProfile,
    NumericProfile,
    build_baseline,
    load_baseline,
    score_values,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 4_000
    df = pd.DataFrame(
        {
            "Age (years)": rng.normal(40, 12, n),
            "income": rng.lognormal(10, 0.5, n),
            "Plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            "is_new": rng.random(n) < 0.2,
            "row_id": np.arange(n),
            "score": rng.random(n),
            "label": rng.integers(0, 2, n),
        }
    )
    df.loc[df.index % 40 == 0, "income"] = np.nan
    return df


def test_build_profiles_every_column_with_normalised_names(frame: pd.DataFrame) -> None:
    b = build_baseline(frame, "credit", "7", exclude=["row_id"], prediction="score", target="label")
    assert list(b.features) == ["age_years", "income", "plan", "is_new"]
    age, income, plan, is_new = (b.features[k] for k in b.features)
    assert isinstance(age, NumericProfile) and age.column == "Age (years)"
    assert age.mean == pytest.approx(frame["Age (years)"].mean())
    assert age.std == pytest.approx(frame["Age (years)"].std())
    assert (age.min, age.max) == (frame["Age (years)"].min(), frame["Age (years)"].max())
    assert income.null_count == frame["income"].isna().sum() and income.count == len(frame)
    assert income.null_rate == pytest.approx(frame["income"].isna().mean())
    assert isinstance(plan, CategoricalProfile)
    assert (
        dict(zip(plan.categories, plan.counts[:-1].tolist(), strict=True))
        == frame["Plan"].value_counts().to_dict()
    )
    assert isinstance(is_new, CategoricalProfile) and set(is_new.categories) == {"true", "false"}
    assert b.prediction is not None and b.prediction.column == "score"
    assert b.target is not None and b.target.column == "label"
    assert (b.model, b.version, b.row_count) == ("credit", "7", len(frame))


def test_save_and_load_round_trip(tmp_path: Path, frame: pd.DataFrame) -> None:
    b = build_baseline(frame, "credit", prediction="score", source="train.csv")
    path = tmp_path / "baseline.json"
    b.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "otelml.baseline" and doc["format_version"] == FORMAT_VERSION
    assert doc["otelml_version"] == __version__ and doc["model"] == {"name": "credit", "version": None}
    assert doc["created"].endswith("Z") and doc["source"] == "train.csv"
    loaded = load_baseline(path)
    assert loaded.to_dict() == b.to_dict()
    shifted = frame["Age (years)"] + 12
    assert score_values(loaded.feature("Age (years)"), shifted).value == pytest.approx(
        score_values(b.features["age_years"], shifted).value
    )


def test_colliding_names_get_numeric_suffixes() -> None:
    b = build_baseline({"Plan A": [1.0, 2.0], "plan-a": [3.0, 4.0]}, "m")
    assert list(b.features) == ["plan_a", "plan_a_2"]
    assert b.features["plan_a_2"].column == "plan-a"


def test_feature_lookup_names_the_missing_feature(frame: pd.DataFrame) -> None:
    b = build_baseline(frame, "credit")
    with pytest.raises(KeyError, match="'tenure' is not in the baseline of model 'credit'"):
        b.feature("tenure")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exclude": ["nope"]}, "column 'nope' given to --exclude is not in the data"),
        ({"prediction": "pred"}, "column 'pred' given to --prediction is not in the data"),
        ({"target": "y"}, "column 'y' given to --target is not in the data"),
    ],
)
def test_unknown_columns_are_named(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        build_baseline(frame, "credit", source="train.csv", **kwargs)


def test_empty_data_and_all_missing_columns_are_refused() -> None:
    with pytest.raises(BaselineError, match=r"train\.csv: no rows"):
        build_baseline(pd.DataFrame({"a": []}), "m", source="train.csv")
    with pytest.raises(BaselineError, match="column 'b': no numeric values"):
        build_baseline({"a": [1.0, 2.0], "b": [np.nan, np.nan]}, "m", source="train.csv")


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "b.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_load_errors_name_the_file_and_key(tmp_path: Path, frame: pd.DataFrame) -> None:
    good = build_baseline(frame, "credit").to_dict()
    with pytest.raises(BaselineError, match=r"missing\.json: baseline file not found"):
        load_baseline(tmp_path / "missing.json")
    with pytest.raises(BaselineError, match=r"b\.json: not valid JSON at line 1 column 2"):
        load_baseline(_write(tmp_path, "{oops"))
    with pytest.raises(BaselineError, match=r"b\.json: key 'format' must be 'otelml.baseline'"):
        load_baseline(_write(tmp_path, {"hello": 1}))
    with pytest.raises(BaselineError, match=r"'format_version' is 99; this otelml reads version 1"):
        load_baseline(_write(tmp_path, {**good, "format_version": 99}))
    with pytest.raises(BaselineError, match=r"key 'model.name' must be a non-empty string"):
        load_baseline(_write(tmp_path, {**good, "model": {"version": "1"}}))
    broken = json.loads(json.dumps(good))
    del broken["features"]["income"]["edges"]
    with pytest.raises(BaselineError, match=r"b\.json: missing key 'features.income.edges'"):
        load_baseline(_write(tmp_path, broken))
    broken = json.loads(json.dumps(good))
    broken["features"]["plan"]["counts"] = [1]
    with pytest.raises(BaselineError, match=r"invalid profile at 'features.plan': counts must be 4"):
        load_baseline(_write(tmp_path, broken))
    with pytest.raises(BaselineError, match=r"b\.json: missing key 'row_count'"):
        load_baseline(_write(tmp_path, {k: v for k, v in good.items() if k != "row_count"}))


def test_from_dict_is_the_same_parser(frame: pd.DataFrame) -> None:
    doc = build_baseline(frame, "credit").to_dict()
    assert Baseline.from_dict(doc).to_dict() == doc
    with pytest.raises(BaselineError, match="<baseline>: missing key 'features'"):
        Baseline.from_dict({k: v for k, v in doc.items() if k != "features"})


def test_score_values_defaults_per_kind_and_rejects_wasserstein_on_categories(frame: pd.DataFrame) -> None:
    b = build_baseline(frame, "credit")
    assert score_values(b.features["age_years"], frame["Age (years)"]).method == "wasserstein"
    plan = score_values(b.features["plan"], frame["Plan"].replace("team", "enterprise"))
    assert plan.method == "js" and plan.top_bins[0] == b.features["plan"].other_bin
    with pytest.raises(ValueError, match="wasserstein needs a numeric column"):
        score_values(b.features["plan"], frame["Plan"], method="wasserstein")
