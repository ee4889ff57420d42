"""The performance processor takes the task from `ml.model.task` on the inference spans (as the
library sets it from the estimator), the values only telling binary from multiclass; config wins.

A regression model whose predictions and labels are whole numbers (counts) looks like a multiclass
classifier from its values alone; its spans say `regression`, so its windows get MAE/RMSE/MAPE/R²
equal to sklearn's.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from otelml_collector.state import StateStore
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

from otelml.instrumentation.sklearn.estimators import task as estimator_task
from tests.collector.performance.test_performance import Env
from tests.collector.predictions.spans import inference, label


def send_counts(env: Env, task: str | None, n: int = 50, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.poisson(4.0, n)
    pred = np.clip(truth + rng.integers(-2, 3, n), 0, None)
    spans, labels = [], []
    for p, t in zip(pred.tolist(), truth.tolist(), strict=True):
        pid = os.urandom(8).hex()
        s = inference(os.urandom(16), pid, {"x": float(t)}, value=int(p), score=0.0, model="counts")
        del s["attributes"]["ml.prediction.score"]
        if task is not None:
            s["attributes"]["ml.model.task"] = task
        spans.append(s)
        labels.append(label(pid, int(t), model="counts"))
    env.send(spans)
    env.send(labels)
    return truth.astype(float), pred.astype(float)


def test_regression_task_from_the_spans_gives_regression_metrics_equal_to_sklearn() -> None:
    task = estimator_task(LinearRegression())  # what the sklearn instrumentation puts on the span
    assert task == "regression"
    env = Env(StateStore(":memory:"), window={"size": 50}, baseline={"warmup": 0})
    truth, pred = send_counts(env, task)
    (w,) = env.windows(model="counts")
    assert set(w["realized"]) == {"mae", "rmse", "mape", "r2"}
    assert w["realized"]["mae"] == pytest.approx(skm.mean_absolute_error(truth, pred), abs=1e-12)
    assert w["realized"]["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, pred)), abs=1e-12)
    assert w["realized"]["r2"] == pytest.approx(skm.r2_score(truth, pred), abs=1e-12)


def test_without_the_attribute_the_values_decide_and_config_overrides_the_span() -> None:
    env = Env(StateStore(":memory:"), window={"size": 50}, baseline={"warmup": 0})
    send_counts(env, None)
    (w,) = env.windows(model="counts")
    assert set(w["realized"]) == {"accuracy", "f1_macro"}  # whole numbers guessed as classes

    env = Env(StateStore(":memory:"), window={"size": 50}, baseline={"warmup": 0}, task="multiclass")
    send_counts(env, "regression")
    (w,) = env.windows(model="counts")
    assert set(w["realized"]) == {"accuracy", "f1_macro"}


def test_classification_span_with_many_classes_is_multiclass() -> None:
    task = estimator_task(LogisticRegression())
    assert task == "classification"
    env = Env(StateStore(":memory:"), window={"size": 50}, baseline={"warmup": 0})
    truth, pred = send_counts(env, task)
    (w,) = env.windows(model="counts")
    assert w["realized"]["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert w["realized"]["f1_macro"] == pytest.approx(skm.f1_score(truth, pred, average="macro"))
