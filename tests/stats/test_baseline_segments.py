"""Per-segment profiles in the baseline file (`build_baseline(segments=...)`, `--segment COL`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otelml import stats


def table(rng: np.random.Generator, n: int = 3000) -> dict[str, np.ndarray]:
    region = np.array(["eu", "us", "apac"], dtype=object)[rng.integers(0, 3, n)]
    income = rng.lognormal(10, 0.5, n) * np.where(region == "us", 1.5, 1.0)
    return {"Income": income, "Plan": rng.choice(np.array(["a", "b"], dtype=object), n), "Region": region}


def test_segment_profiles_are_the_profiles_of_their_rows_and_round_trip(tmp_path):
    data = table(np.random.default_rng(1))
    b = stats.build_baseline(data, "credit", "3", segments=["Region"])
    assert set(b.features) == {"income", "plan"}  # the segment column is no feature
    assert set(b.segments) == {"region"} and b.segment_columns == {"region": "Region"}
    assert set(b.segments["region"]) == {"eu", "us", "apac"}
    us = data["Region"] == "us"
    expected = stats.profile_column(data["Income"][us], column="Income")
    got = b.segments["region"]["us"].features["income"]
    np.testing.assert_array_equal(got.edges, expected.edges)
    np.testing.assert_array_equal(got.counts, expected.counts)
    assert b.segments["region"]["us"].row_count == int(us.sum())

    path = tmp_path / "b.json"
    b.save(path)
    again = stats.load_baseline(path)
    assert again.segments["region"]["us"].features["income"].to_dict() == got.to_dict()
    assert again.segment_columns == {"region": "Region"}
    # a file without segments still loads (format version 1 unchanged) and writes no segments key
    plain = stats.build_baseline(data, "credit", "3", exclude=["Region"])
    assert "segments" not in plain.to_dict()


def test_only_the_most_frequent_values_are_kept():
    rng = np.random.default_rng(2)
    region = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype=object)
    data = {"x": rng.normal(size=100), "r": region}
    b = stats.build_baseline(data, "m", segments=["r"], max_segment_values=2)
    assert set(b.segments["r"]) == {"a", "b"}


def test_malformed_segments_name_the_key(tmp_path):
    b = stats.build_baseline(table(np.random.default_rng(3)), "credit", segments=["Region"])
    doc = b.to_dict()
    del doc["segments"]["region"]["values"]["eu"]["features"]["income"]["edges"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(stats.BaselineError, match=r"segments\.region\.values\.eu\.features\.income"):
        stats.load_baseline(path)
    doc["segments"] = {"region": []}
    path.write_text(json.dumps(doc))
    with pytest.raises(stats.BaselineError, match=r"'segments\.region\.values' must be an object"):
        stats.load_baseline(path)
