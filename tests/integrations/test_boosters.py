"""XGBoost and LightGBM instrumentors on real boosters: one span per user call, attributes equal the real
inputs and outputs, results and exceptions unchanged, originals restored."""

from __future__ import annotations

import logging
import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

import otelml
from otelml.instrumentation.lightgbm import LightGBMInstrumentor
from otelml.instrumentation.sklearn import SklearnInstrumentor
from otelml.instrumentation.xgboost import XGBoostInstrumentor

RNG = np.random.default_rng(11)
X = RNG.normal(size=(400, 3))
Y = (X[:, 0] - X[:, 2] > 0).astype(int)
Y3 = np.digitize(X[:, 0], [-0.4, 0.4])
DF = pd.DataFrame(X, columns=["age", "income", "tenure"])


def _spans(exporter):
    spans = exporter.get_finished_spans()
    exporter.clear()
    return spans


def _one(exporter):
    spans = _spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    attrs = dict(spans[0].attributes)
    assert re.fullmatch(r"[0-9a-f]{32}", attrs.pop("ml.prediction.id"))
    return spans[0], attrs


@pytest.fixture(scope="module")
def xgb_binary():
    return xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(DF, label=Y), 20)


@pytest.fixture(scope="module")
def lgb_multi():
    return lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, label=Y3), 15)


def test_xgboost_dmatrix_single_row(exporter, instrument, xgb_binary) -> None:
    expected = xgb_binary.predict(xgb.DMatrix(DF[:1]))  # before instrumenting: the reference output
    instrument(XGBoostInstrumentor)
    got = xgb_binary.predict(xgb.DMatrix(DF[:1]))
    np.testing.assert_array_equal(got, expected)
    span, attrs = _one(exporter)
    assert span.name == "inference xgboost.Booster"
    row = DF[:1].to_numpy(dtype=np.float32)[0]  # a DMatrix holds float32
    assert attrs == {
        "ml.operation.name": "inference", "ml.model.name": "xgboost.Booster",
        "ml.model.framework": "xgboost", "ml.model.task": "classification",
        "ml.feature.age": float(row[0]), "ml.feature.income": float(row[1]),
        "ml.feature.tenure": float(row[2]),
        "ml.prediction.value": int(expected[0] > 0.5), "ml.prediction.score": float(expected[0]),
    }


def test_xgboost_dmatrix_missing_values_are_nan(exporter, instrument, xgb_binary) -> None:
    instrument(XGBoostInstrumentor)
    frame = DF[:2].copy()
    frame.iloc[1, 1] = np.nan
    xgb_binary.predict(xgb.DMatrix(frame))
    _, attrs = _one(exporter)
    assert attrs["ml.batch.size"] == 2
    assert attrs["ml.feature.income"][0] == pytest.approx(frame.iloc[0, 1], rel=1e-6)
    assert np.isnan(attrs["ml.feature.income"][1])


def test_xgboost_inplace_predict_batch_and_registered_name(exporter, instrument, xgb_binary) -> None:
    instrument(XGBoostInstrumentor)
    otelml.register_model(xgb_binary, name="churn", version="4")
    try:
        got = xgb_binary.inplace_predict(DF[:5])
    finally:
        otelml.register_model(xgb_binary, name="xgboost.Booster")
    span, attrs = _one(exporter)
    assert span.name == "inference churn" and attrs["ml.model.version"] == "4"
    assert attrs["ml.batch.size"] == 5
    assert list(attrs["ml.feature.tenure"]) == DF["tenure"][:5].tolist()
    assert list(attrs["ml.prediction.score"]) == pytest.approx(got.tolist())
    assert list(attrs["ml.prediction.value"]) == (got > 0.5).astype(int).tolist()


def test_xgboost_margins_and_leaves_record_no_prediction(exporter, instrument, xgb_binary) -> None:
    instrument(XGBoostInstrumentor)
    xgb_binary.predict(xgb.DMatrix(DF[:1]), output_margin=True)
    xgb_binary.inplace_predict(DF[:1], predict_type="margin")
    for span in _spans(exporter):
        assert "ml.prediction.value" not in span.attributes
        assert span.attributes["ml.feature.age"] == pytest.approx(DF["age"][0], rel=1e-6)


def test_xgb_classifier_is_one_span_with_both_instrumentors(exporter, instrument) -> None:
    model = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(DF, Y3)
    expected = model.predict_proba(DF[:1])
    instrument(SklearnInstrumentor)
    instrument(XGBoostInstrumentor)
    np.testing.assert_array_equal(model.predict_proba(DF[:1]), expected)
    span, attrs = _one(exporter)
    assert span.name == "inference XGBClassifier"
    assert attrs["ml.model.framework"] == "xgboost" and attrs["ml.model.task"] == "classification"
    best = int(expected[0].argmax())
    assert attrs["ml.prediction.value"] == model.classes_[best]
    assert attrs["ml.prediction.score"] == pytest.approx(float(expected[0, best]))
    assert attrs["ml.feature.income"] == DF["income"][0]
    model.predict(X[:3])  # numpy input: names from the booster
    _, attrs = _one(exporter)
    assert list(attrs["ml.feature.age"]) == X[:3, 0].tolist()
    assert list(attrs["ml.prediction.value"]) == model.predict(X[:3]).tolist()


def test_sklearn_instrumentor_alone_leaves_xgboost_estimators(exporter, instrument) -> None:
    model = xgb.XGBRegressor(n_estimators=5).fit(X, X[:, 1])
    instrument(SklearnInstrumentor)
    model.predict(X[:1])
    assert _spans(exporter) == ()


def test_lightgbm_booster_multiclass(exporter, instrument, lgb_multi) -> None:
    expected = lgb_multi.predict(X[:1])
    instrument(LightGBMInstrumentor)
    np.testing.assert_array_equal(lgb_multi.predict(X[:1]), expected)
    span, attrs = _one(exporter)
    assert span.name == "inference lightgbm.Booster"
    best = int(expected[0].argmax())
    assert attrs == {
        "ml.operation.name": "inference", "ml.model.name": "lightgbm.Booster",
        "ml.model.framework": "lightgbm", "ml.model.task": "classification",
        "ml.feature.f0": X[0, 0], "ml.feature.f1": X[0, 1], "ml.feature.f2": X[0, 2],
        "ml.prediction.value": best, "ml.prediction.score": float(expected[0, best]),
    }
    lgb_multi.predict(X[:1], raw_score=True)
    _, attrs = _one(exporter)
    assert "ml.prediction.value" not in attrs


def test_lgbm_classifier_dataframe_one_span(exporter, instrument) -> None:
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(DF, Y)
    expected = model.predict(DF[:4])
    instrument(SklearnInstrumentor)
    instrument(LightGBMInstrumentor)
    np.testing.assert_array_equal(model.predict(DF[:4]), expected)
    span, attrs = _one(exporter)
    assert span.name == "inference LGBMClassifier" and attrs["ml.model.framework"] == "lightgbm"
    assert list(attrs["ml.prediction.value"]) == expected.tolist()
    assert list(attrs["ml.feature.tenure"]) == DF["tenure"][:4].tolist()


def test_lightgbm_regression_booster_named_features(exporter, instrument) -> None:
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(DF, label=X @ [1, 2, 3]), 10)
    instrument(LightGBMInstrumentor)
    got = booster.predict(X[:1])  # numpy input: names from the booster
    _, attrs = _one(exporter)
    assert attrs["ml.model.task"] == "regression"
    assert attrs["ml.prediction.value"] == got[0]
    assert attrs["ml.feature.income"] == X[0, 1]


def test_model_errors_reach_the_caller_unchanged(exporter, instrument, xgb_binary, lgb_multi) -> None:
    instrument(XGBoostInstrumentor)
    instrument(LightGBMInstrumentor)
    with pytest.raises(ValueError) as plain:
        xgb_binary.inplace_predict(np.ones((1, 7)))
    span, _ = _one(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.type"] == type(plain.value).__name__
    with pytest.raises(Exception, match="number of features"):
        lgb_multi.predict(np.ones((1, 7)))
    assert _one(exporter)[0].status.status_code is StatusCode.ERROR


class _BrokenProcessor(SpanProcessor):
    """A span processor that fails: the SDK lets on_start's exception through to the tracer's caller."""

    def on_start(self, span, parent_context=None) -> None:
        raise RuntimeError("processor broke")


def test_instrumentation_failures_never_reach_the_caller(exporter, instrument, xgb_binary, lgb_multi,
                                                         caplog) -> None:
    def broken_hook(*_):
        raise RuntimeError("hook broke")

    expected = xgb_binary.inplace_predict(X[:2])
    instrument(XGBoostInstrumentor, request_hook=broken_hook, response_hook=broken_hook)
    with caplog.at_level(logging.WARNING, logger="otelml"):
        np.testing.assert_array_equal(xgb_binary.inplace_predict(X[:2]), expected)
    _, attrs = _one(exporter)
    assert "hook broke" in caplog.text
    assert list(attrs["ml.prediction.score"]) == pytest.approx(expected.tolist())

    broken = TracerProvider()
    broken.add_span_processor(_BrokenProcessor())
    expected = lgb_multi.predict(X[:3])
    LightGBMInstrumentor().instrument(tracer_provider=broken)
    try:
        with caplog.at_level(logging.WARNING, logger="otelml"):
            np.testing.assert_array_equal(lgb_multi.predict(X[:3]), expected)
    finally:
        LightGBMInstrumentor().uninstrument()
    assert "processor broke" in caplog.text


def test_uninstrument_restores_the_original_methods(exporter, instrument) -> None:
    originals = (xgb.Booster.predict, xgb.Booster.inplace_predict, xgb.XGBClassifier.predict_proba,
                 xgb.XGBModel.predict, lgb.Booster.predict, lgb.LGBMClassifier.predict_proba)
    xgb_on, lgb_on = instrument(XGBoostInstrumentor), instrument(LightGBMInstrumentor)
    assert xgb.Booster.predict is not originals[0] and lgb.Booster.predict is not originals[4]
    xgb_on.uninstrument()
    lgb_on.uninstrument()
    assert (xgb.Booster.predict, xgb.Booster.inplace_predict, xgb.XGBClassifier.predict_proba,
            xgb.XGBModel.predict, lgb.Booster.predict, lgb.LGBMClassifier.predict_proba) == originals
    xgb.XGBRegressor(n_estimators=2).fit(X, X[:, 0]).predict(X[:1])
    assert _spans(exporter) == ()
