"""Each check through the Python API, against an independent reference (Python's `statistics`, collections,
`re`) on the same data; plus the API's promises (input untouched, JSON-able result, clear errors)."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from otelml import quality

RNG = np.random.default_rng(11)
DF = pd.DataFrame({
    "x": np.where(RNG.random(1000) < 0.03, np.nan, RNG.gamma(2.0, 3.0, 1000)),
    "n": RNG.integers(0, 50, 1000),
    "c": RNG.choice(["red", "green", "blue", "teal"], 1000, p=[0.5, 0.3, 0.15, 0.05]),
    "code": [f"{'AB'[i % 2]}-{i:04d}" if i % 97 else f"bad{i}" for i in range(1000)],
})
X = [v for v in DF["x"] if not np.isnan(v)]


def one(spec: dict, df: pd.DataFrame = DF, **kw) -> quality.ExpectationResult:
    [r] = quality.validate(df, spec, **kw).results
    return r


@pytest.mark.parametrize(("kind", "reference"), [
    ("mean", statistics.fmean(X)),
    ("std", statistics.stdev(X)),
    ("median", statistics.median(X)),
    ("minimum", min(X)),
    ("maximum", max(X)),
])
def test_aggregates_match_the_statistics_module(kind, reference):
    r = one({"columns": {"x": {kind: {"min": reference - 1e-9, "max": reference + 1e-9}}}})
    assert r.success and r.observed_value == pytest.approx(reference, rel=1e-12)
    assert r.missing_count == 1000 - len(X)
    above = one({"columns": {"x": {kind: {"min": reference, "strict_min": True}}}})
    assert not above.success


def test_quantiles_match_statistics_quantiles():
    cuts = statistics.quantiles(X, n=4, method="inclusive")  # linear interpolation, like numpy's default
    r = one({"columns": {"x": {"quantiles": {0.25: [None, None], 0.5: [0, 100], 0.75: [0, cuts[2] - 0.01]}}}})
    assert list(r.observed_value.values()) == pytest.approx(cuts)
    assert not r.success  # the 0.75 range excludes the observed value


def test_between_counts_and_examples_match_a_plain_loop():
    lo, hi = 1.0, 12.0
    bad_rows = [i for i, v in enumerate(DF["x"]) if not np.isnan(v) and not lo <= v <= hi]
    r = one({"columns": {"x": {"between": {"min": lo, "max": hi, "mostly": 0.5}}}})
    assert r.unexpected_count == len(bad_rows)
    assert r.unexpected_percent == pytest.approx(100 * len(bad_rows) / len(X))
    assert [e.row for e in r.examples] == bad_rows[:5]
    assert [e.value for e in r.examples] == [DF["x"][i] for i in bad_rows[:5]]
    assert r.success == ((len(X) - len(bad_rows)) / len(X) >= 0.5)
    ratio = (len(X) - len(bad_rows)) / len(X)
    assert one({"columns": {"x": {"between": {"min": lo, "max": hi, "mostly": ratio}}}}).success
    assert not one({"columns": {"x": {"between": {"min": lo, "max": hi, "mostly": ratio + 1e-9}}}}).success


def test_in_set_unique_regex_not_null_match_references():
    allowed = ["red", "green", "blue"]
    r = one({"columns": {"c": {"in_set": allowed}}})
    assert r.unexpected_count == sum(v not in allowed for v in DF["c"])
    assert r.observed_value["unexpected_values"] == ["teal"]
    counts = Counter(DF["n"])
    r = one({"columns": {"n": {"unique": True}}})
    assert r.unexpected_count == sum(c for c in counts.values() if c > 1)
    assert r.observed_value["duplicated_values"] == sum(c > 1 for c in counts.values())
    rx = re.compile(r"^[AB]-\d{4}$")
    r = one({"columns": {"code": {"regex": r"^[AB]-\d{4}$"}}})
    assert r.unexpected_count == sum(rx.search(v) is None for v in DF["code"])
    assert r.examples[0].value == "bad0"
    r = one({"columns": {"c": {"not_in_set": ["teal", "pink"]}}})
    assert r.unexpected_count == sum(v == "teal" for v in DF["c"])
    assert r.observed_value == {"forbidden_values": ["teal"]} and not r.success
    r = one({"columns": {"x": {"not_null": {"mostly": 0.95}}}})
    assert r.success and r.unexpected_count == 1000 - len(X)


def test_types():
    df = pd.DataFrame({"i": [1, 2, 3], "f": [1.5, 2.0, None], "fi": [1.0, None, 3.0], "s": ["a", "b", None],
                       "b": [True, False, True], "t": pd.to_datetime(["2024-01-01"] * 3)})
    verdicts = {(col, t): one({"columns": {col: {"type": t}}}, df).success
                for col in df.columns for t in ("int", "float", "numeric", "string", "bool", "datetime")}
    assert {k for k, ok in verdicts.items() if ok} == {
        ("i", "int"), ("i", "numeric"), ("f", "float"), ("f", "numeric"), ("fi", "int"), ("fi", "float"),
        ("fi", "numeric"), ("s", "string"), ("b", "bool"), ("t", "datetime")}


def test_freshness_on_iso_strings_and_epoch_seconds():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    df = pd.DataFrame({"iso": ["2025-06-01T10:30:00Z", "2025-06-01T11:00:00+00:00", None, "garbage"],
                       "epoch": [now - 7200, now - 5400, np.nan, now - 9000]})
    r = one({"columns": {"epoch": {"freshness": "2h"}}}, df, now=now)
    assert r.success and r.observed_value["age_seconds"] == 5400
    r = one({"columns": {"epoch": {"freshness": {"max_age": 3600}}}}, df, now=now)
    assert not r.success
    r = one({"columns": {"iso": {"freshness": "90m"}}}, df, now=now)
    assert r.observed_value["age_seconds"] == 3600
    assert not r.success and r.unexpected_count == 1 and r.examples[0].value == "garbage"


def test_missing_or_wrong_typed_column_fails_with_a_message_not_an_exception():
    r = one({"columns": {"nope": {"not_null": True}}})
    assert not r.success and r.message.startswith("column 'nope' not found; the data has: x, n, c, code")
    r = one({"columns": {"c": {"mean": {"min": 0}}}})
    assert not r.success and "column 'c' is not numeric" in r.message


def test_api_leaves_the_data_alone_and_returns_json():
    before = DF.copy(deep=True)
    result = quality.validate(DF, {"table": {"row_count": {"min": 1}},
                                   "columns": {"x": {"between": {"max": 5}, "not_null": True}}})
    pd.testing.assert_frame_equal(DF, before)
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["success"] is False
    assert doc["statistics"] == {"evaluated": 3, "successful": 1, "unsuccessful": 2}
    assert not result and [r.expectation.label for r in result.failed] == ["x: between", "x: not_null"]
    with pytest.raises(quality.ExpectationFileError, match=r"columns\.x\.between: give at least one"):
        quality.validate(DF, {"columns": {"x": {"between": {}}}})
    with pytest.raises(TypeError):
        quality.validate(DF.to_dict(), {"columns": {}})


def test_odd_columns_fail_their_check_and_keep_the_others():
    df = pd.DataFrame({"lists": [[1], [2], [1]], "ok": [1, 2, 3]})
    result = quality.validate(df, {"columns": {"lists": {"in_set": [1]}, "ok": {"between": {"min": 0}}}})
    odd, ok = result.results
    assert not odd.success and odd.message.startswith("column 'lists': in_set could not be evaluated")
    assert ok.success
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    [r] = quality.validate(dup, {"columns": {"a": {"not_null": True}}}).results
    assert not r.success and r.message == "column 'a' appears 2 times; rename the duplicates"


def test_public_names():
    assert set(quality.__all__) == {
        "GE_TYPES", "CheckContext", "DataFileError", "Example", "Expectation", "ExpectationFileError",
        "ExpectationResult", "QualityError", "Result", "load_expectations", "parse_expectations",
        "read_data", "run_check", "validate", "load_baseline_file", "within_bounds",
        # what `otelml validate` / `otelml audit` use
        "AuditRun", "AuditStore", "format_table", "otlp_configured", "post_webhook", "resolve_expectations",
        "send_otlp", "slack_message"}
    assert all(getattr(quality, name) is not None for name in quality.__all__)


def test_the_documented_example_file_is_valid():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "quality.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    exps = quality.parse_expectations(yaml.safe_load(example), "docs/quality.md")
    kinds = {(e.column, e.kind) for e in exps}
    assert {("notes", "exists"), ("event_time", "freshness"), (None, "row_count")} <= kinds
    assert len(exps) == 16
