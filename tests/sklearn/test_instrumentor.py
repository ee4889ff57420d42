"""The scikit-learn instrumentor on real models: one span per user call, attributes equal the actual
inputs and outputs, and the model's behaviour is never changed."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import otelml
import otelml._config as cfg
from otelml._models import register_model
from otelml.instrumentation.sklearn import SklearnInstrumentor

RNG = np.random.default_rng(7)
X = RNG.normal(size=(300, 4))
Y_BIN = (X[:, 0] + X[:, 1] > 0).astype(int)
Y_MULTI = np.digitize(X[:, 0], [-0.5, 0.5])
Y_REG = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 1.0
STATIC = {"ml.operation.name": "inference", "ml.model.framework": "sklearn"}


def _only_span(exporter: InMemorySpanExporter):
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def _pop_static(attrs: dict, name: str, task: str) -> None:
    for key, value in {**STATIC, "ml.model.name": name, "ml.model.task": task}.items():
        assert attrs.pop(key) == value, key
    assert re.fullmatch(r"[0-9a-f]{32}", attrs.pop("ml.prediction.id"))


def test_binary_predict_proba_single_row(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    proba = model.predict_proba(X[:1])
    span = _only_span(exporter)
    assert span.name == "inference LogisticRegression"
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    _pop_static(attrs, "LogisticRegression", "classification")
    for j in range(4):
        assert attrs.pop(f"ml.feature.f{j}") == X[0, j]
    assert attrs.pop("ml.prediction.value") == int(np.argmax(proba[0]))
    assert attrs.pop("ml.prediction.score") == proba[0, 1]  # binary: the positive class
    assert attrs == {}


def test_multiclass_predict_proba_scores_the_predicted_class(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, np.array(["low", "mid", "high"])[Y_MULTI])
    proba = model.predict_proba(X[:5])
    attrs = dict(_only_span(exporter).attributes)
    with suppress_instrumentation():
        expected_classes = model.predict(X[:5])
    assert list(attrs.pop("ml.prediction.value")) == expected_classes.tolist()
    assert list(attrs.pop("ml.prediction.score")) == proba.max(axis=1).tolist()
    assert attrs.pop("ml.batch.size") == 5
    for j in range(4):
        assert list(attrs.pop(f"ml.feature.f{j}")) == X[:5, j].tolist()
    _pop_static(attrs, "LogisticRegression", "classification")
    assert attrs == {}


def test_regression_predict_has_value_and_no_score(exporter: InMemorySpanExporter) -> None:
    model = LinearRegression().fit(X, Y_REG)
    out = model.predict(X[3:4])
    attrs = dict(_only_span(exporter).attributes)
    assert attrs.pop("ml.prediction.value") == out[0]
    _pop_static(attrs, "LinearRegression", "regression")
    assert sorted(attrs) == [f"ml.feature.f{j}" for j in range(4)]


def test_predict_returning_a_tuple_records_the_prediction(exporter: InMemorySpanExporter) -> None:
    model = GaussianProcessRegressor().fit(X[:50], Y_REG[:50])
    mean, _std = model.predict(X[:2], return_std=True)
    attrs = dict(_only_span(exporter).attributes)
    assert list(attrs["ml.prediction.value"]) == mean.tolist()
    assert "ml.prediction.score" not in attrs


def test_predict_records_class_but_calls_no_extra_method(exporter: InMemorySpanExporter) -> None:
    calls: list[int] = []

    class Counting(LogisticRegression):
        def predict_proba(self, X):
            calls.append(len(X))
            return super().predict_proba(X)

    model = Counting().fit(X, Y_BIN)
    out = model.predict(X[:1])
    attrs = dict(_only_span(exporter).attributes)
    assert attrs["ml.prediction.value"] == out[0]
    assert "ml.prediction.score" not in attrs
    assert calls == []  # no second model call to compute a score


def test_decision_function_and_log_proba(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    with suppress_instrumentation():
        classes = model.predict(X[:3])
    model.decision_function(X[:3])
    logp = model.predict_log_proba(X[:3])
    dec_span, log_span = exporter.get_finished_spans()
    assert list(dec_span.attributes["ml.prediction.value"]) == classes.tolist()
    assert "ml.prediction.score" not in dec_span.attributes
    assert list(log_span.attributes["ml.prediction.value"]) == classes.tolist()
    assert np.allclose(log_span.attributes["ml.prediction.score"], np.exp(logp[:, 1]))


def test_pipeline_with_dataframe_is_one_span_with_column_names(exporter: InMemorySpanExporter) -> None:
    df = pd.DataFrame({"Income ($)": X[:, 0] * 1000, "age": (X[:, 1] * 10 + 40).round(),
                       "plan": pd.Categorical(np.where(X[:, 2] > 0, "pro", "free")),
                       "city": np.where(X[:, 3] > 0, "Oslo", "Lima").astype(object)})
    pipe = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["Income ($)", "age"]),
                                    ("cat", OneHotEncoder(), ["plan", "city"])])),
        ("clf", LogisticRegression()),
    ]).fit(df, Y_BIN)
    exporter.clear()
    row = df.iloc[[7]]
    proba = pipe.predict_proba(row)
    span = _only_span(exporter)
    assert span.name == "inference Pipeline"
    attrs = dict(span.attributes)
    _pop_static(attrs, "Pipeline", "classification")
    assert attrs.pop("ml.feature.income") == row["Income ($)"].iloc[0]
    assert attrs.pop("ml.feature.age") == row["age"].iloc[0]
    assert attrs.pop("ml.feature.plan") == row["plan"].iloc[0]
    assert attrs.pop("ml.feature.city") == row["city"].iloc[0]
    assert attrs.pop("ml.prediction.value") == int(np.argmax(proba[0]))
    assert attrs.pop("ml.prediction.score") == proba[0, 1]
    assert attrs == {}


def test_numpy_input_uses_feature_names_in(exporter: InMemorySpanExporter) -> None:
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    pipe = Pipeline([("s", StandardScaler()), ("m", LinearRegression())]).fit(df, Y_REG)
    exporter.clear()
    with pytest.warns(UserWarning, match="feature names"):  # sklearn's own warning, untouched
        pipe.predict(X[:1])
    attrs = dict(_only_span(exporter).attributes)
    assert {k: attrs[k] for k in attrs if k.startswith("ml.feature.")} == {
        "ml.feature.a": X[0, 0], "ml.feature.b": X[0, 1], "ml.feature.c": X[0, 2], "ml.feature.d": X[0, 3]}


def test_list_and_sparse_inputs(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(sp.csr_matrix(X), Y_BIN)
    exporter.clear()
    model.predict(X[:1].tolist())
    model.predict(sp.csr_matrix(X[:2]))
    list_span, sparse_span = exporter.get_finished_spans()
    assert [list_span.attributes[f"ml.feature.f{j}"] for j in range(4)] == X[0].tolist()
    assert [list(sparse_span.attributes[f"ml.feature.f{j}"]) for j in range(4)] == X[:2].T.tolist()


def test_span_joins_the_prediction_scope(exporter: InMemorySpanExporter) -> None:
    model = LinearRegression().fit(X, Y_REG)
    with otelml.prediction(id="order-17"):
        model.predict(X[:1])
        model.predict(X[1:2])
    model.predict(X[2:3])
    first, second, outside = exporter.get_finished_spans()
    assert first.attributes["ml.prediction.id"] == second.attributes["ml.prediction.id"] == "order-17"
    assert outside.attributes["ml.prediction.id"] != "order-17"


def test_label_recorded_later_links_to_the_inference_span(exporter: InMemorySpanExporter) -> None:
    otelml.configure(tracer_provider=exporter.provider)  # record_label uses otelml's own tracer
    model = otelml.register_model(LogisticRegression().fit(X, Y_BIN), name="churn", version="2")
    with otelml.prediction():
        model.predict(X[:1])
        pid = otelml.current_prediction_id()
    otelml.record_label(pid, 1)
    spans = {s.name: s for s in exporter.get_finished_spans()}  # may include the scope's own span
    inference, label = spans["inference churn"], spans["label churn"]
    assert inference.attributes["ml.prediction.id"] == pid == label.attributes["ml.prediction.id"]
    assert label.name == "label churn" and label.attributes["ml.model.version"] == "2"
    assert label.links[0].context.span_id == inference.context.span_id
    assert label.attributes["ml.label.delay"] >= 0


def test_registered_name_and_version(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    model.predict(X[:1])
    assert register_model(model, name="churn", version=3) is model
    model.predict(X[:1])
    before, after = exporter.get_finished_spans()
    assert before.name == "inference LogisticRegression" and "ml.model.version" not in before.attributes
    assert after.name == "inference churn"
    assert after.attributes["ml.model.name"] == "churn" and after.attributes["ml.model.version"] == "3"


def test_large_batch_is_sampled_consistently(exporter: InMemorySpanExporter) -> None:
    cfg.configure(max_batch_rows=20)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y_BIN)
    exporter.clear()
    proba = model.predict_proba(X)
    attrs = dict(_only_span(exporter).attributes)
    rows = list(attrs.pop("ml.batch.sampled_rows"))
    assert len(rows) == 20 and attrs.pop("ml.batch.size") == 300
    for j in range(4):
        assert list(attrs.pop(f"ml.feature.f{j}")) == X[rows, j].tolist()
    assert list(attrs.pop("ml.prediction.score")) == proba[rows, 1].tolist()
    assert list(attrs.pop("ml.prediction.value")) == proba[rows].argmax(axis=1).tolist()
    _pop_static(attrs, "RandomForestClassifier", "classification")
    assert attrs == {}


def test_predictions_during_training_add_no_span(exporter: InMemorySpanExporter) -> None:
    search = GridSearchCV(Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]),
                          {"m__C": [0.1, 1.0]}, cv=3).fit(X, Y_BIN)  # scores folds with predict
    assert exporter.get_finished_spans() == ()
    search.predict(X[:2])
    assert _only_span(exporter).name == "inference GridSearchCV"


def test_threaded_ensemble_is_one_span(exporter: InMemorySpanExporter) -> None:
    model = RandomForestClassifier(n_estimators=8, n_jobs=2, random_state=0).fit(X, Y_BIN)
    exporter.clear()
    model.predict(X[:10])
    assert _only_span(exporter).name == "inference RandomForestClassifier"


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "decision_function"])
def test_outputs_identical_with_and_without_instrumentation(method: str) -> None:
    models = [LogisticRegression().fit(X, Y_MULTI),
              SGDClassifier(loss="log_loss", random_state=0).fit(X, Y_BIN),
              Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(X, Y_BIN)]
    bare = [getattr(m, method)(X[:50]) for m in models]
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument()
    try:
        traced = [getattr(m, method)(X[:50]) for m in models]
    finally:
        instrumentor.uninstrument()
    for a, b in zip(bare, traced, strict=True):
        assert np.array_equal(a, b)


def test_uninstrument_restores_originals_and_gives_no_spans(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    pipe = Pipeline([("m", LogisticRegression())]).fit(X, Y_BIN)
    SklearnInstrumentor().uninstrument()
    assert not hasattr(LogisticRegression.predict_proba, "__wrapped__")
    assert not hasattr(Pipeline.__dict__["predict"].fn, "__wrapped__")
    model.predict_proba(X[:1])
    pipe.predict(X[:1])

    class DefinedAfter(LinearRegression):
        def predict(self, X):
            return super().predict(X)

    assert not hasattr(DefinedAfter.predict, "__wrapped__")  # the subclass hook is gone too
    DefinedAfter().fit(X, Y_REG).predict(X[:1])
    assert exporter.get_finished_spans() == ()
    SklearnInstrumentor().instrument()  # the fixture uninstruments again


def test_instrument_twice_is_harmless(exporter: InMemorySpanExporter) -> None:
    SklearnInstrumentor().instrument()
    LogisticRegression().fit(X, Y_BIN).predict(X[:1])
    assert _only_span(exporter).name == "inference LogisticRegression"


class Boom(RuntimeError):
    pass


class Exploding(ClassifierMixin, BaseEstimator):
    """Defined after the instrumentor was imported: reached through the subclass hook."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        raise Boom("model failed on purpose")


def test_estimator_error_gives_error_span_and_same_exception(exporter: InMemorySpanExporter) -> None:
    model = Exploding().fit(X, Y_BIN)
    with pytest.raises(Boom) as info:
        model.predict(X[:1])
    span = _only_span(exporter)
    assert span.name == "inference Exploding"
    assert span.status.status_code is StatusCode.ERROR
    assert "model failed on purpose" in span.status.description
    assert span.events[0].name == "exception"
    assert span.events[0].attributes["exception.type"].endswith("Boom")
    assert str(info.value) == "model failed on purpose"


def test_sklearn_validation_error_unchanged(exporter: InMemorySpanExporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    SklearnInstrumentor().uninstrument()
    with pytest.raises(ValueError) as bare:
        model.predict(X[:1, :3])
    SklearnInstrumentor().instrument(tracer_provider=exporter.provider)
    with pytest.raises(ValueError) as traced:
        model.predict(X[:1, :3])
    assert str(traced.value) == str(bare.value)
    assert [s.status.status_code for s in exporter.get_finished_spans()] == [StatusCode.ERROR]


def test_subclass_defined_later_calling_super_is_one_span(exporter: InMemorySpanExporter) -> None:
    class Shifted(LinearRegression):
        def predict(self, X):
            return super().predict(X) + 100.0

    model = Shifted().fit(X, Y_REG)
    out = model.predict(X[:1])
    attrs = dict(_only_span(exporter).attributes)
    assert attrs["ml.model.name"] == "Shifted"
    assert attrs["ml.prediction.value"] == out[0]


def test_span_is_current_during_the_model_call(exporter: InMemorySpanExporter) -> None:
    seen: list[trace.Span] = []

    class Looking(LinearRegression):
        def predict(self, X):
            seen.append(trace.get_current_span())
            return super().predict(X)

    Looking().fit(X, Y_REG).predict(X[:1])
    assert seen[0].get_span_context().span_id == _only_span(exporter).context.span_id


def test_hooks_see_the_call_and_their_errors_never_reach_the_caller(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple] = []

    def request_hook(span, estimator, method, X_in):
        seen.append((method, X_in.shape))
        raise RuntimeError("request hook bug")

    def response_hook(span, estimator, method, result):
        span.set_attribute("app.rows", len(result))
        raise RuntimeError("response hook bug")

    SklearnInstrumentor().uninstrument()
    SklearnInstrumentor().instrument(tracer_provider=exporter.provider, request_hook=request_hook,
                                     response_hook=response_hook)
    model = LogisticRegression().fit(X, Y_BIN)
    with suppress_instrumentation():
        expected = model.predict(X[:2])
    with caplog.at_level(logging.WARNING, logger="otelml"):
        out = model.predict(X[:2])
    assert np.array_equal(out, expected)
    assert seen == [("predict", (2, 4))]
    assert _only_span(exporter).attributes["app.rows"] == 2
    assert "request_hook" in caplog.text and "response_hook" in caplog.text


def test_capture_failure_still_returns_the_result(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    class SetModel(BaseEstimator):
        def predict(self, X):
            return np.array([len(X)])

    with caplog.at_level(logging.WARNING, logger="otelml"):
        out = SetModel().predict({"a", "b"})  # an input otelml cannot turn into attributes
    assert out.tolist() == [2]
    attrs = dict(_only_span(exporter).attributes)
    assert attrs["ml.prediction.value"] == 2
    assert not any(k.startswith("ml.feature.") for k in attrs)
    assert "features" in caplog.text and "failed" in caplog.text


def test_suppressed_instrumentation_gives_no_span(exporter: InMemorySpanExporter) -> None:
    with suppress_instrumentation():
        LogisticRegression().fit(X, Y_BIN).predict(X[:1])
    assert exporter.get_finished_spans() == ()


def test_works_with_no_provider_configured() -> None:
    code = (
        "import numpy as np\n"
        "from otelml.instrumentation.sklearn import SklearnInstrumentor\n"
        "SklearnInstrumentor().instrument()\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X = np.arange(40.0).reshape(20, 2); y = np.arange(20) % 2\n"
        "m = LogisticRegression().fit(X, y)\n"
        "print(m.predict_proba(X[:1]).round(6).tolist(), type(m).predict_proba.__wrapped__ is not None)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from sklearn.linear_model import LogisticRegression as LR

    bare = LR().fit(np.arange(40.0).reshape(20, 2), np.arange(20) % 2).predict_proba([[0.0, 1.0]])
    assert proc.stdout.strip() == f"{bare.round(6).tolist()} True"
    assert "Traceback" not in proc.stderr


def test_cached_row_plan_follows_a_new_capture_config_and_refit_names(exporter) -> None:
    model = LogisticRegression().fit(X, Y_BIN)
    row = X[:1]
    model.predict_proba(row)
    cfg.configure(redact_features=["f1"], drop_features=["f2"])
    model.predict_proba(row)
    frame = pd.DataFrame(X, columns=["age", "income", "debt", "tenure"])
    model.fit(frame, Y_BIN)  # refit: new feature_names_in_
    model.predict_proba(frame.iloc[:1])
    first, second, third = (dict(s.attributes) for s in exporter.get_finished_spans())
    assert first["ml.feature.f1"] == row[0, 1] and first["ml.feature.f2"] == row[0, 2]
    assert second["ml.feature.f1"] == "[REDACTED]" and "ml.feature.f2" not in second
    assert second["ml.feature.f0"] == row[0, 0]
    assert third["ml.feature.income"] == row[0, 1] and "ml.feature.f0" not in third


def test_label_memory_keeps_only_sampled_predictions(exporter) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    model = LogisticRegression().fit(X, Y_BIN)
    ids: list[str | None] = []
    instrumentor = SklearnInstrumentor()
    instrumentor.uninstrument()
    def remember_id(span: object, est: object, method: str, X: object) -> None:
        ids.append(otelml.current_prediction_id())

    instrumentor.instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF), request_hook=remember_id)
    model.predict(X[:1])
    instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=exporter.provider)
    otelml.configure(tracer_provider=exporter.provider)  # record_label uses otelml's own tracer
    (pid,) = ids
    assert pid is not None
    otelml.record_label(pid, 1)
    (label,) = exporter.get_finished_spans()
    assert label.attributes["ml.prediction.id"] == pid
    assert label.links == ()  # the prediction's span was sampled out: never exported, nothing to link to
    assert "ml.label.delay" not in label.attributes


def test_every_calling_convention_reaches_the_model_unchanged(exporter: InMemorySpanExporter) -> None:
    class Args(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X, shift=0, *, scale=1):
            return np.full(len(X), (1 + shift) * scale)

    model = Args().fit(X, Y_BIN)
    calls = [((X[:1],), {}), ((), {"X": X[:1]}), ((X[:2], 2), {}), ((X[:1],), {"scale": 5}),
             ((), {"X": X[:1], "shift": 1, "scale": 3})]
    for args, kwargs in calls:
        with suppress_instrumentation():
            expected = model.predict(*args, **kwargs)
        assert np.array_equal(model.predict(*args, **kwargs), expected)
    spans = exporter.get_finished_spans()
    assert [s.attributes["ml.prediction.value"] for s in spans] == [1, 1, (3, 3), 5, 6]
    assert [s.attributes["ml.feature.f0"] for s in spans][:2] == [X[0, 0], X[0, 0]]
    with pytest.raises(TypeError, match="X"):
        model.predict()  # the model's own error for a missing input
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.predict(X[:1], bad=1)


def test_a_prediction_made_by_a_hook_adds_no_span(exporter: InMemorySpanExporter) -> None:
    other = LinearRegression().fit(X, Y_REG)
    with suppress_instrumentation():
        expected = other.predict(X[:1])[0]
    seen: list[float] = []
    SklearnInstrumentor().uninstrument()
    SklearnInstrumentor().instrument(tracer_provider=exporter.provider,
                                     request_hook=lambda span, est, method, X_in: seen.append(
                                         other.predict(X_in)[0]))
    LogisticRegression().fit(X, Y_BIN).predict(X[:1])
    assert _only_span(exporter).name == "inference LogisticRegression"
    assert seen == [expected]
