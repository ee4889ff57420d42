"""Inputs and outputs become attributes equal to the actual values, masked per the capture policy."""

from __future__ import annotations

import hashlib
import logging
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelml._capture import REDACTED, feature_attributes, prediction_attributes
from otelml._config import build_config

DEFAULT = build_config()


def _through_sdk(attrs: dict) -> dict:
    """What a real SDK span keeps of ``attrs`` (it silently drops invalid or mixed-type values)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("s", attributes=attrs):
        pass
    return dict(exporter.get_finished_spans()[0].attributes)


def test_numpy_single_row_without_names() -> None:
    X = np.random.default_rng(1).normal(size=(1, 5))
    attrs, rows = feature_attributes(X, None, DEFAULT)
    assert rows is None
    for i in range(5):
        assert attrs.pop(f"ml.feature.f{i}") == X[0, i]
    assert attrs == {}


def test_numpy_1d_row_with_model_feature_names() -> None:
    X = np.array([1.5, -2.0, 7.25])
    names = np.array(["Petal Length (cm)", "width", "Width"], dtype=object)
    attrs, _ = feature_attributes(X, names, DEFAULT)
    assert attrs.pop("ml.feature.petal_length_cm") == 1.5
    assert attrs.pop("ml.feature.width") == -2.0
    assert attrs.pop("ml.feature.width_2") == 7.25
    assert attrs == {}


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50_000, 10_000, n),
        "is_member": rng.random(n) > 0.5,
        "plan": pd.Categorical(rng.choice(["free", "pro", "team"], n)),
        "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
    })


def test_dataframe_single_row_mixed_dtypes() -> None:
    df = _frame(1)
    attrs, rows = feature_attributes(df, None, DEFAULT)
    assert rows is None
    kept = _through_sdk(attrs)
    assert kept == attrs
    assert attrs.pop("ml.feature.age") == int(df["age"].iloc[0])
    assert type(kept["ml.feature.age"]) is int
    assert attrs.pop("ml.feature.income") == df["income"].iloc[0]
    assert attrs.pop("ml.feature.is_member") is bool(df["is_member"].iloc[0])
    assert attrs.pop("ml.feature.plan") == df["plan"].iloc[0]
    assert attrs.pop("ml.feature.city") == df["city"].iloc[0]
    assert attrs == {}


def test_dataframe_batch_gives_one_array_per_feature() -> None:
    df = _frame(8)
    attrs, rows = feature_attributes(df, None, DEFAULT)
    assert rows is not None and rows.size == 8 and rows.indices is None
    kept = _through_sdk(attrs)
    assert set(kept) == set(attrs)
    assert attrs.pop("ml.batch.size") == 8
    for col in df.columns:
        assert list(attrs.pop(f"ml.feature.{col}")) == df[col].tolist()
    assert attrs == {}


def test_lists_single_row_and_rows() -> None:
    attrs, rows = feature_attributes([3, "x", 2.5, True], ["a", "b", "c", "d"], DEFAULT)
    assert rows is None
    assert attrs == {"ml.feature.a": 3, "ml.feature.b": "x", "ml.feature.c": 2.5, "ml.feature.d": True}
    attrs, rows = feature_attributes([[1, "x"], [2, "y"], [3.5, None]], None, DEFAULT)
    assert rows is not None and rows.size == 3
    assert _through_sdk(attrs) == {"ml.batch.size": 3, "ml.feature.f0": (1.0, 2.0, 3.5),
                                   "ml.feature.f1": ("x", "y", None)}


def test_a_named_list_of_numbers_is_masked_like_any_row() -> None:
    names = ["customer_id", "Store No"]
    assert feature_attributes([7, 2.5], names, DEFAULT)[0] == {"ml.feature.customer_id": 7,
                                                               "ml.feature.store_no": 2.5}
    config = build_config(hash_features="customer_id", drop_features="store_no", hash_salt="s")
    assert feature_attributes([7, 2.5], names, config)[0] == {
        "ml.feature.customer_id": "sha256:" + hashlib.sha256(b"s7").hexdigest()}
    assert feature_attributes([7, 2.5], names, build_config(redact_features="Store No"))[0] == {
        "ml.feature.customer_id": 7, "ml.feature.store_no": REDACTED}
    assert feature_attributes([7, 2.5], names, build_config(capture_features=False))[0] == {}
    assert feature_attributes([7, None], names, DEFAULT)[0] == {"ml.feature.customer_id": 7}


def test_sparse_rows() -> None:
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    attrs, _ = feature_attributes(sp.csr_matrix(dense[:1]), None, DEFAULT)
    assert attrs == {"ml.feature.f0": 0.0, "ml.feature.f1": 2.0, "ml.feature.f2": 0.0}
    attrs, rows = feature_attributes(sp.csr_matrix(dense), None, DEFAULT)
    assert rows is not None
    assert attrs.pop("ml.batch.size") == 2
    for j in range(3):
        assert attrs.pop(f"ml.feature.f{j}") == dense[:, j].tolist()
    assert attrs == {}


def test_large_batch_is_uniformly_sampled_with_the_same_rows_for_predictions() -> None:
    config = build_config(max_batch_rows=10)
    X = np.arange(200.0).reshape(50, 4)
    y = np.arange(50) % 3
    score = np.linspace(0, 1, 50)
    attrs, rows = feature_attributes(X, None, config)
    sampled = attrs.pop("ml.batch.sampled_rows")
    assert attrs.pop("ml.batch.size") == 50
    assert len(sampled) == 10 == len(set(sampled)) and sampled == sorted(sampled)
    assert all(0 <= i < 50 for i in sampled)
    for j in range(4):
        assert attrs.pop(f"ml.feature.f{j}") == X[sampled, j].tolist()
    assert attrs == {}
    pred = prediction_attributes(y, score, rows, config)
    assert pred == {"ml.prediction.value": y[sampled].tolist(),
                    "ml.prediction.score": score[sampled].tolist()}


def test_large_dataframe_batch_is_sampled_with_matching_rows() -> None:
    config = build_config(max_batch_rows=4)
    df = _frame(30)
    attrs, rows = feature_attributes(df, None, config)
    sampled = attrs.pop("ml.batch.sampled_rows")
    assert rows is not None and rows.indices.tolist() == sampled and len(sampled) == 4
    assert attrs.pop("ml.batch.size") == 30
    for col in df.columns:
        assert list(attrs.pop(f"ml.feature.{col}")) == df[col].iloc[sampled].tolist()
    assert attrs == {}


def test_batch_sample_is_not_always_the_same_rows() -> None:
    config = build_config(max_batch_rows=5)
    X = np.zeros((1000, 1))
    samples = {tuple(feature_attributes(X, None, config)[0]["ml.batch.sampled_rows"]) for _ in range(5)}
    assert len(samples) > 1


def test_redact_hash_drop_by_model_name_or_normalised_name() -> None:
    config = build_config(redact_features="SSN", hash_features="user_id", drop_features="home_city",
                          hash_salt="pepper")
    df = pd.DataFrame({"SSN": ["123-45-6789"], "User ID": [4242], "Home City": ["Oslo"], "age": [40]})
    attrs, _ = feature_attributes(df, None, config)
    assert attrs.pop("ml.feature.ssn") == REDACTED == "[REDACTED]"
    assert attrs.pop("ml.feature.user_id") == "sha256:" + hashlib.sha256(b"pepper4242").hexdigest()
    assert attrs.pop("ml.feature.age") == 40
    assert attrs == {}


def test_masking_applies_to_batches_too() -> None:
    config = build_config(redact_features="a", hash_features="b", drop_features="c", hash_salt="s")
    X = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    attrs, _ = feature_attributes(X, ["a", "b", "c", "d"], config)
    assert attrs.pop("ml.batch.size") == 2
    assert attrs.pop("ml.feature.a") == [REDACTED, REDACTED]
    assert attrs.pop("ml.feature.b") == ["sha256:" + hashlib.sha256(f"s{v}".encode()).hexdigest()
                                         for v in (2.0, 6.0)]
    assert attrs.pop("ml.feature.d") == [4.0, 8.0]
    assert attrs == {}


def test_capture_off_records_no_feature_but_keeps_batch_size() -> None:
    config = build_config(capture_features=False)
    assert feature_attributes(np.ones((1, 3)), None, config)[0] == {}
    assert feature_attributes(np.ones((4, 3)), None, config)[0] == {"ml.batch.size": 4}


def test_string_length_limit_on_features_and_predictions() -> None:
    config = build_config(max_string_length=4)
    attrs, _ = feature_attributes(["abcdefgh", "ab"], None, config)
    assert attrs == {"ml.feature.f0": "abcd", "ml.feature.f1": "ab"}
    assert prediction_attributes(np.array(["category-long"]), None, None, config) == {
        "ml.prediction.value": "cate"}


def test_attribute_count_limit_keeps_first_columns_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    config = build_config(max_attributes=3)
    with caplog.at_level(logging.WARNING, logger="otelml"):
        attrs, _ = feature_attributes(np.arange(6.0)[None, :], [f"c{i}" for i in range(6)], config)
    assert attrs == {"ml.feature.c0": 0.0, "ml.feature.c1": 1.0, "ml.feature.c2": 2.0}
    assert "OTELML_MAX_ATTRIBUTES=3" in caplog.text and "'c3'" in caplog.text


def test_non_finite_floats_survive_into_the_span() -> None:
    X = np.array([[np.nan, np.inf, -np.inf, 1.0]])
    attrs, _ = feature_attributes(X, None, DEFAULT)
    kept = _through_sdk({**attrs, **prediction_attributes(np.array([np.nan]), None, None, DEFAULT)})
    assert math.isnan(kept["ml.feature.f0"]) and kept["ml.feature.f1"] == math.inf
    assert kept["ml.feature.f2"] == -math.inf and kept["ml.feature.f3"] == 1.0
    assert math.isnan(kept["ml.prediction.value"])


def test_missing_single_values_are_left_out() -> None:
    df = pd.DataFrame({"a": pd.array([None], dtype="Int64"), "b": ["x"], "c": [None]})
    attrs, _ = feature_attributes(df, None, DEFAULT)
    assert attrs == {"ml.feature.b": "x"}


def test_prediction_scalar_single_row_and_multi_output() -> None:
    assert prediction_attributes(np.array([2]), np.array([0.75]), None, DEFAULT) == {
        "ml.prediction.value": 2, "ml.prediction.score": 0.75}
    assert prediction_attributes(0.5, None, None, DEFAULT) == {"ml.prediction.value": 0.5}
    assert prediction_attributes(np.array([[1.0, 2.0]]), None, None, DEFAULT) == {
        "ml.prediction.value": [1.0, 2.0]}
    assert prediction_attributes(pd.Series(["no", "yes"]), None, None, DEFAULT) == {
        "ml.prediction.value": ["no", "yes"]}


def test_new_config_changes_masking_of_cached_columns() -> None:
    X = np.array([[1.0, 2.0]])
    names = ["a", "b"]
    assert feature_attributes(X, names, DEFAULT)[0] == {"ml.feature.a": 1.0, "ml.feature.b": 2.0}
    assert feature_attributes(X, names, build_config(drop_features="a"))[0] == {"ml.feature.b": 2.0}


def test_unsupported_input_type_names_it() -> None:
    with pytest.raises(TypeError, match="set"):
        feature_attributes({1, 2}, None, DEFAULT)
