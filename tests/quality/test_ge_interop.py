"""A Great Expectations suite gives the same verdicts in otelml as in Great Expectations itself (run here,
ephemeral context, on the same DataFrame), in both the GE 1.x (`type`) and 0.x (`expectation_type`)
suite shapes; unsupported types are reported by name as failures, never skipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otelml import quality

gx = pytest.importorskip("great_expectations")

N = 200


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, N)
    x[[3, 50, 90, 120, 150, 160, 170, 180, 190, 199]] = np.nan  # 10 missing: exactly 95% present
    x[[10, 11]] = [5.0, -4.0]
    s = rng.choice(["a", "b", "c"], N).astype(object)
    s[[7, 8]] = None
    s[[20]] = "zz"
    e = np.array([f"u{i}@mail.org" for i in range(N)], dtype=object)
    e[[30, 31, 32]] = ["nope", "x@", "@y.com"]
    u = np.arange(N)
    u[[40, 41]] = 1000  # one duplicated value, twice
    return pd.DataFrame({
        "x": x, "i": rng.integers(0, 10, N), "s": s, "e": e, "u": u,
        "empty": np.full(N, np.nan), "lo": np.where(np.arange(N) % 2 == 0, 1.0, 2.0),
    })


def _between(col: str, **kw):
    return ("expect_column_values_to_be_between", {"column": col, **kw})


SUITE = [
    ("expect_column_to_exist", {"column": "x"}),
    ("expect_column_to_exist", {"column": "missing"}),
    ("expect_column_values_to_not_be_null", {"column": "x"}),
    ("expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.95}),
    ("expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.96}),
    ("expect_column_values_to_not_be_null", {"column": "i"}),
    _between("x", min_value=-3.5, max_value=3.5),
    _between("x", min_value=-4.5, max_value=5.0),
    _between("x", min_value=-4.5, max_value=5.0, strict_max=True),
    _between("x", min_value=-4.0, strict_min=True, mostly=0.99),
    _between("x", max_value=3.5, mostly=0.99),
    _between("lo", min_value=1.0, max_value=2.0, strict_min=True, mostly=0.5),
    _between("lo", min_value=1.0, max_value=2.0, strict_min=True, mostly=0.51),
    _between("i", min_value=0, max_value=9),
    _between("empty", min_value=0, max_value=1),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", "c"]}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b", "c"], "mostly": 0.99}),
    ("expect_column_values_to_be_in_set", {"column": "i", "value_set": [0, 1, 2, 3, 4, 5, 6, 7, 8]}),
    ("expect_column_values_to_be_unique", {"column": "u"}),
    ("expect_column_values_to_be_unique", {"column": "x"}),
    ("expect_column_values_to_be_unique", {"column": "u", "mostly": 0.99}),
    ("expect_column_values_to_match_regex", {"column": "e", "regex": r"^[a-z0-9]+@[a-z]+\.[a-z]+$"}),
    ("expect_column_values_to_match_regex", {"column": "e", "regex": r"@mail\.org$", "mostly": 0.98}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": "^[ab]$", "mostly": 0.5}),
    ("expect_table_row_count_to_be_between", {"min_value": 100, "max_value": 300}),
    ("expect_table_row_count_to_be_between", {"min_value": 300}),
    ("expect_table_row_count_to_be_between", {"max_value": N, "strict_max": True}),
    ("expect_table_row_count_to_equal", {"value": N}),
    ("expect_column_mean_to_be_between", {"column": "x", "min_value": -0.5, "max_value": 0.5}),
    ("expect_column_mean_to_be_between", {"column": "i", "min_value": 4.6}),
    ("expect_column_mean_to_be_between", {"column": "lo", "min_value": 1.5, "strict_min": True}),
    ("expect_column_mean_to_be_between", {"column": "lo", "max_value": 1.5}),
    ("expect_column_stdev_to_be_between", {"column": "x", "min_value": 0.8, "max_value": 1.5}),
    ("expect_column_stdev_to_be_between", {"column": "i", "max_value": 2.0}),
    ("expect_column_median_to_be_between", {"column": "i", "min_value": 4, "max_value": 5}),
    ("expect_column_median_to_be_between", {"column": "lo", "min_value": 1.6}),
    ("expect_column_min_to_be_between", {"column": "x", "min_value": -4.0}),
    ("expect_column_min_to_be_between", {"column": "x", "min_value": -4.0, "strict_min": True}),
    ("expect_column_max_to_be_between", {"column": "i", "max_value": 8}),
    ("expect_column_max_to_be_between", {"column": "i", "min_value": 9, "max_value": 9}),
    ("expect_column_values_to_not_be_in_set", {"column": "s", "value_set": ["zz"]}),
    ("expect_column_values_to_not_be_in_set", {"column": "s", "value_set": ["zz"], "mostly": 0.99}),
    ("expect_column_values_to_not_be_in_set", {"column": "i", "value_set": [10, 11]}),
    ("expect_column_quantile_values_to_be_between", {"column": "x", "quantile_ranges": {
        "quantiles": [0.05, 0.5, 0.95], "value_ranges": [[-2.5, -1.0], [-0.3, 0.3], [1.0, 2.5]]}}),
    ("expect_column_quantile_values_to_be_between", {"column": "i", "quantile_ranges": {
        "quantiles": [0.1, 0.9], "value_ranges": [[1, 1], [8, 8]]}}),
]
UNSUPPORTED = ("expect_column_values_to_be_dateutil_parseable", {"column": "s"})


def _ge_results(df: pd.DataFrame, suite: list[tuple[str, dict]]) -> dict[int, dict]:
    ctx = gx.get_context(mode="ephemeral")
    batch = (ctx.data_sources.add_pandas("otelml").add_dataframe_asset("df")
             .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df}))
    ge_suite = gx.ExpectationSuite(name="interop", expectations=[
        {"type": t, "kwargs": kw, "meta": {"i": i}} for i, (t, kw) in enumerate(suite)])
    out = batch.validate(ge_suite)
    return {r.expectation_config.meta["i"]: {"success": r.success, **r.result} for r in out.results}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _data()


@pytest.fixture(scope="module")
def ge(data) -> dict[int, dict]:
    return _ge_results(data, SUITE)


@pytest.mark.parametrize("shape", ["type", "expectation_type"])
def test_same_verdicts_as_great_expectations(data, ge, shape):
    suite = {"expectations": [{shape: t, "kwargs": kw} for t, kw in SUITE]}
    ours = quality.validate(data, suite)
    assert len(ours.results) == len(SUITE)
    verdicts = {i: (r.success, ge[i]["success"]) for i, r in enumerate(ours.results)}
    differ = {SUITE[i][0] + json.dumps(SUITE[i][1]): v for i, v in verdicts.items() if v[0] != v[1]}
    assert differ == {}
    # Both outcomes are represented, so agreement is not trivial.
    assert 10 < sum(ge[i]["success"] for i in ge) < len(SUITE) - 10
    for i, r in enumerate(ours.results):
        if "unexpected_count" in ge[i]:
            assert r.unexpected_count == ge[i]["unexpected_count"], SUITE[i]
            assert r.unexpected_percent == pytest.approx(ge[i]["unexpected_percent"] or 0.0), SUITE[i]
        if SUITE[i][0] in ("expect_column_mean_to_be_between", "expect_column_stdev_to_be_between",
                           "expect_column_median_to_be_between", "expect_column_min_to_be_between",
                           "expect_column_max_to_be_between"):
            assert r.observed_value == pytest.approx(ge[i]["observed_value"]), SUITE[i]
        if SUITE[i][0] == "expect_column_quantile_values_to_be_between":
            assert list(r.observed_value.values()) == pytest.approx(ge[i]["observed_value"]["values"])


def test_suite_file_through_the_cli_reports_unsupported_types_by_name(data, tmp_path: Path, otelml_inproc):
    data.to_parquet(tmp_path / "data.parquet")
    suite = {"name": "interop", "expectations": [
        {"type": t, "kwargs": kw} for t, kw in [SUITE[0], UNSUPPORTED, SUITE[6]]]}
    suite["expectations"].append({"type": "expect_column_values_to_not_be_null",
                                  "kwargs": {"column": "x", "row_condition": "i > 3",
                                             "condition_parser": "pandas"}})
    (tmp_path / "suite.json").write_text(json.dumps(suite, indent=2))
    run = otelml_inproc("validate", "data.parquet", "-e", "suite.json", "--format", "json")
    assert run.code == 1
    results = run.json()["results"]
    assert [(r["ge_type"], r["success"]) for r in results] == [
        ("expect_column_to_exist", True),
        ("expect_column_values_to_be_dateutil_parseable", False),
        ("expect_column_values_to_be_between", False),
        ("expect_column_values_to_not_be_null", False),
    ]
    assert "'expect_column_values_to_be_dateutil_parseable' is not supported" in results[1]["message"]
    assert "option 'row_condition'" in results[3]["message"]
    assert results[1]["source"] == "suite.json:10"
    table = otelml_inproc("validate", "data.parquet", "-e", "suite.json")
    assert re.search(r"FAIL +s +unsupported expect_column_values_to_be_dateutil_parseable", table.stdout)


def test_invalid_ge_suite_exits_2_naming_the_entry(data, tmp_path: Path, otelml_inproc):
    data.to_csv(tmp_path / "data.csv", index=False)
    suite = {"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "x"}},
                              {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x"}}]}
    (tmp_path / "suite.json").write_text(json.dumps(suite, indent=2))
    run = otelml_inproc("validate", "data.csv", "-e", "suite.json")
    assert run.code == 2
    assert ("suite.json:11: expectations[1].kwargs: give at least one of `min_value` and `max_value`"
            in run.stderr)


def test_a_suite_saved_by_great_expectations_loads_as_is(data, ge, tmp_path: Path):
    suite = gx.ExpectationSuite(name="saved", expectations=[{"type": t, "kwargs": kw} for t, kw in SUITE])
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(suite.to_json_dict(), indent=2, default=str))
    ours = quality.validate(data, path)
    assert [r.expectation.ge_type for r in ours.results] == [t for t, _ in SUITE]
    assert [r.success for r in ours.results] == [ge[i]["success"] for i in range(len(SUITE))]


def test_type_expectations_match_great_expectations_on_every_dtype():
    df = pd.DataFrame({
        "i": np.arange(6), "f": np.linspace(0, 1, 6), "fn": [1.0, None, 2, 3, 4, 5],
        "s": ["a", "b", None, "d", "e", "f"], "o": np.array(["a", 1, None, 2.5, "x", True], dtype=object),
        "b": [True, False] * 3, "t": pd.date_range("2024-01-01", periods=6),
        "I": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
    })
    names = ["int64", "int", "int32", "float64", "float", "str", "string", "object", "bool",
             "datetime64[ns]", "Int64", "StringDtype", "number"]
    suite = []
    for col in df.columns:
        suite += [("expect_column_values_to_be_of_type", {"column": col, "type_": n}) for n in names]
        in_list = "expect_column_values_to_be_in_type_list"
        suite += [(in_list, {"column": col, "type_list": ["int64", "float64"]}),
                  (in_list, {"column": col, "type_list": ["str", "object"]}),
                  (in_list, {"column": col, "type_list": ["int", "str"], "mostly": 0.5})]
    ge = _ge_results(df, suite)
    ours = quality.validate(df, {"expectations": [{"type": t, "kwargs": kw} for t, kw in suite]})
    differ = [suite[i] for i, r in enumerate(ours.results) if r.success != ge[i]["success"]]
    assert differ == []
    assert 10 < sum(r.success for r in ours.results) < len(suite) - 10  # both verdicts well represented
