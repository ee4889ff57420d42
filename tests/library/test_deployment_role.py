"""`ml.deployment.role` from `otelml.inference(..., role=)` (also as a decorator) and from
`otelml.register_model(..., role=)` through the scikit-learn instrumentor; bad roles are refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import otelml
from otelml.instrumentation.sklearn import SklearnInstrumentor

ROLE = "ml.deployment.role"


def test_inference_role_is_on_the_span_also_as_a_decorator(telemetry) -> None:
    with otelml.inference(model="m", version="2", role="shadow") as span:
        span.set_prediction(1)

    @otelml.inference(model="m", version="3", role="canary")
    def score() -> int:
        return 1

    score()
    score()
    with otelml.inference(model="m", version="1"):
        pass
    roles = [(s.attributes.get("ml.model.version"), s.attributes.get(ROLE)) for s in telemetry.finished()]
    assert roles == [("2", "shadow"), ("3", "canary"), ("3", "canary"), ("1", None)]


def test_registered_role_reaches_the_instrumented_span(telemetry) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    otelml.register_model(model, name="risk", version="7", role="canary")
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        model.predict(X[:1])
    finally:
        instrumentor.uninstrument()
    (span,) = [s for s in telemetry.finished() if s.name == "inference risk"]
    assert span.attributes[ROLE] == "canary" and span.attributes["ml.model.version"] == "7"


def test_unknown_roles_are_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="primary, shadow, canary"):
        otelml.inference(model="m", role="blue")
    with pytest.raises(ValueError, match="role must be one of"):
        otelml.register_model(LogisticRegression(), name="m", role="green")
