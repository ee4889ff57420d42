"""The fast paths of the checks give the same results as the plain expressions: quantiles of large
columns equal `np.quantile` exactly, and string checks on Arrow-backed columns equal those on Python
(object) strings and a count in pure Python."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from otelml import quality

RNG = np.random.default_rng(5)
QS = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999, 1.0]


def _columns() -> dict[str, np.ndarray]:
    n = 12_345
    with_inf = RNG.exponential(1e6, n)
    with_inf[:4], with_inf[4:6] = np.inf, -np.inf
    ties = RNG.integers(0, 7, n).astype(float)
    ties[RNG.random(n) < 0.1] = np.nan
    return {"normal": RNG.normal(0, 1, n), "ties": ties, "inf": with_inf,
            "even": RNG.normal(5, 2, 10_000), "ints": RNG.integers(-50, 50, 9_999)}


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantiles_of_large_columns_equal_numpy(method):
    cols = _columns()
    df = pd.DataFrame({k: pd.Series(v) for k, v in cols.items()})
    spec = {"quantiles": {q: [None, None] for q in QS}, "interpolation": method}
    result = quality.validate(df, {"columns": {k: {"quantiles": spec} for k in cols}})
    for r in result.results:
        v = cols[r.expectation.column].astype(float)
        expected = np.quantile(v[~np.isnan(v)], QS, method=method)
        got = np.array([r.observed_value[str(q)] for q in QS])
        np.testing.assert_array_equal(got, expected, err_msg=f"{r.expectation.column} {method}")
    assert df["ties"].isna().sum() > 0  # the input was not reordered or filled
    np.testing.assert_array_equal(df["normal"].to_numpy(), cols["normal"])


WORDS = ["US", "DE", "FR", "GB", "XX", "de", "U S", "", "user1@example.com", "broken@", "é@x.io"]


def _strings(n: int = 20_000) -> list[str | None]:
    p = [0.3, 0.2, 0.2, 0.1, 0.001, 0.001, 0.001, 0.001, 0.1, 0.005, 0.091]
    values: list[str | None] = [str(v) for v in RNG.choice(WORDS, n, p=p)]
    for i in RNG.choice(n, 300, replace=False):
        values[int(i)] = None
    return values


CHECKS = [
    ("in_set", ["US", "DE", "FR", "GB", "user1@example.com", "é@x.io"],
     lambda v: v not in {"US", "DE", "FR", "GB", "user1@example.com", "é@x.io"}),
    ("in_set", ["US", 3, None], lambda v: v != "US"),
    ("not_in_set", ["XX", "de"], lambda v: v in {"XX", "de"}),
    ("not_in_set", ["XX"], lambda v: v == "XX"),
    ("regex", r"^[^@]+@[a-z]+\.[a-z]{2,}$", lambda v: re.search(r"^[^@]+@[a-z]+\.[a-z]{2,}$", v) is None),
    ("regex", r"^[A-Z]{2}$", lambda v: re.search(r"^[A-Z]{2}$", v) is None),
]


@pytest.mark.parametrize(("kind", "param", "is_bad"), CHECKS)
def test_string_checks_agree_across_string_storages(kind, param, is_bad):
    values = _strings()
    frames = {"str": pd.Series(values, dtype="str"),
              "arrow": pd.Series(values, dtype=pd.StringDtype("pyarrow")),
              "arrow_ext": pd.Series(values, dtype=pd.ArrowDtype(__import__("pyarrow").large_string())),
              "python": pd.Series(values, dtype=pd.StringDtype("python")),
              "object": pd.Series(values, dtype=object)}
    bad_rows = [i for i, v in enumerate(values) if v is not None and is_bad(v)]
    outcomes = {}
    for name, s in frames.items():
        r = quality.validate(pd.DataFrame({"s": s}), {"columns": {"s": {kind: param}}}).results[0]
        assert r.unexpected_count == len(bad_rows), name
        assert r.missing_count == 300, name
        assert r.unexpected_positions is not None
        assert r.unexpected_positions.tolist() == bad_rows, name
        outcomes[name] = (r.success, r.observed_value, [(e.row, e.value) for e in r.examples])
    assert all(o == outcomes["object"] for o in outcomes.values()), outcomes
    assert outcomes["object"][2] == [(i, values[i]) for i in bad_rows[:5]]


@pytest.mark.parametrize("n", [4095, 4096, 10_001, 10_000])
def test_median_of_large_columns_equals_numpy(n):
    values = np.round(RNG.normal(100, 15, n), 1)  # ties, odd and even lengths, both sides of the fast path
    values[RNG.random(n) < 0.05] = np.nan
    df = pd.DataFrame({"x": values})
    r = quality.validate(df, {"columns": {"x": {"median": {"min": 0}}}}).results[0]
    assert r.observed_value == float(np.median(values[~np.isnan(values)]))
    np.testing.assert_array_equal(df["x"].to_numpy(), values)  # not reordered
    full = pd.DataFrame({"x": np.round(RNG.normal(100, 15, n), 1)})
    before = full["x"].to_numpy().copy()
    r = quality.validate(full, {"columns": {"x": {"median": {"min": 0}, "quantiles": {0.5: [0, 200]}}}})
    assert r.results[0].observed_value == float(np.median(before))
    assert r.results[1].observed_value == {"0.5": float(np.quantile(before, 0.5))}
    np.testing.assert_array_equal(full["x"].to_numpy(), before)  # no missing values: still a copy


def test_regex_on_many_distinct_strings_agrees_across_storages():
    values: list[str | None] = [f"id-{i:05d}" if i % 331 else f"ID{i}" for i in range(12_000)]
    values[7] = None
    pattern = r"^id-\d{5}$"
    bad_rows = [i for i, v in enumerate(values) if v is not None and re.search(pattern, v) is None]
    for dtype in (pd.StringDtype("pyarrow"), object):
        df = pd.DataFrame({"s": pd.Series(values, dtype=dtype)})
        r = quality.validate(df, {"columns": {"s": {"regex": pattern}}}).results[0]
        assert r.unexpected_positions is not None
        assert (r.unexpected_positions.tolist(), r.missing_count) == (bad_rows, 1), dtype
        assert [e.value for e in r.examples] == [values[i] for i in bad_rows[:5]]
