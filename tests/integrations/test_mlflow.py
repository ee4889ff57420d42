"""The MLflow instrumentor against a real local registry (SQLite tracking store in a temporary folder):
loaded models carry the registered name, the resolved version and the run id; a pyfunc call that reaches
a scikit-learn model is one span."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from otelml.instrumentation.mlflow import MLflowInstrumentor
from otelml.instrumentation.sklearn import SklearnInstrumentor

RNG = np.random.default_rng(5)
FRAME = pd.DataFrame(RNG.normal(size=(300, 3)), columns=["age", "income", "tenure"])
LABELS = (FRAME["age"] + FRAME["tenure"] > 0).astype(int)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Two versions of "churn" logged by two runs; alias "champion" -> version 1."""
    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    experiment = mlflow.create_experiment("otelml-test", artifact_location=(root / "artifacts").as_uri())
    runs, models = [], []
    for c in (1.0, 0.01):
        model = LogisticRegression(C=c).fit(FRAME, LABELS)
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.sklearn.log_model(model, name="model", registered_model_name="churn")
        runs.append(run.info.run_id)
        models.append(model)
    MlflowClient().set_registered_model_alias("churn", "champion", "1")
    yield runs, models
    mlflow.set_tracking_uri(previous)


def _inference(exporter):
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("inference")]
    exporter.clear()
    return spans


def test_pyfunc_by_version_is_one_span_with_registry_identity(exporter, instrument, registry) -> None:
    runs, models = registry
    instrument(SklearnInstrumentor)
    instrument(MLflowInstrumentor)
    loaded = mlflow.pyfunc.load_model("models:/churn/2")
    exporter.clear()
    result = loaded.predict(FRAME[:1])
    (span,) = _inference(exporter)
    assert span.name == "inference churn"
    attrs = span.attributes
    identity = (attrs["ml.model.name"], attrs["ml.model.version"], attrs["ml.model.run_id"])
    assert identity == ("churn", "2", runs[1])
    assert attrs["ml.model.framework"] == "sklearn" and attrs["ml.model.task"] == "classification"
    assert attrs["ml.feature.income"] == FRAME["income"][0]
    assert attrs["ml.prediction.value"] == int(np.asarray(result)[0]) == models[1].predict(FRAME[:1])[0]


def test_alias_resolves_to_its_version_and_run(exporter, instrument, registry) -> None:
    runs, _ = registry
    instrument(MLflowInstrumentor)
    loaded = mlflow.pyfunc.load_model("models:/churn@champion")
    exporter.clear()
    loaded.predict(FRAME[:3])
    (span,) = _inference(exporter)
    assert (span.attributes["ml.model.version"], span.attributes["ml.model.run_id"]) == ("1", runs[0])
    assert span.attributes["ml.batch.size"] == 3


def test_flavour_loader_names_the_native_model(exporter, instrument, registry) -> None:
    runs, models = registry
    instrument(SklearnInstrumentor)
    instrument(MLflowInstrumentor)
    estimator = mlflow.sklearn.load_model("models:/churn/1")
    exporter.clear()
    proba = estimator.predict_proba(FRAME[:1])
    (span,) = _inference(exporter)
    assert span.name == "inference churn"
    assert (span.attributes["ml.model.version"], span.attributes["ml.model.run_id"]) == ("1", runs[0])
    assert span.attributes["ml.model.framework"] == "sklearn"
    assert span.attributes["ml.prediction.score"] == pytest.approx(proba[0, 1])
    np.testing.assert_array_equal(proba, models[0].predict_proba(FRAME[:1]))


def test_run_uris_and_uninstrumented_loads_keep_class_names(exporter, instrument, registry) -> None:
    runs, _ = registry
    instrumentor = instrument(MLflowInstrumentor)
    loaded = mlflow.pyfunc.load_model(f"runs:/{runs[0]}/model")
    exporter.clear()
    loaded.predict(FRAME[:1])
    (span,) = _inference(exporter)
    assert span.name == "inference PyFuncModel" and "ml.model.run_id" not in span.attributes
    original = mlflow.pyfunc.load_model
    instrumentor.uninstrument()
    assert mlflow.pyfunc.load_model is not original and not hasattr(mlflow.pyfunc.load_model,
                                                                      "__otelml_wrapped__")
    mlflow.pyfunc.load_model("models:/churn/1").predict(FRAME[:1])
    assert _inference(exporter) == []


def test_latest_resolves_to_the_newest_version(exporter, instrument, registry) -> None:
    runs, _ = registry
    instrument(MLflowInstrumentor)
    loaded = mlflow.pyfunc.load_model("models:/churn/latest")
    exporter.clear()
    loaded.predict(FRAME[:1])
    (span,) = _inference(exporter)
    assert (span.attributes["ml.model.version"], span.attributes["ml.model.run_id"]) == ("2", runs[1])
