"""The model service: scores a loan application with the credit-risk Pipeline and applies the policy.

`POST /score` with the application's features returns the default probability, the decision, the model
version and the prediction id. The model comes from a local MLflow Model Registry
(`mlflow.sklearn.load_model("models:/credit_risk@champion")`, tracking URI in MLFLOW_TRACKING_URI):
otelml's MLflow instrumentor gives it the registered name, the version the alias resolved to and the run
that logged it, and the scikit-learn instrumentor traces each call (`inference credit_risk` with
`ml.model.version` and `ml.model.run_id`, features, prediction and score on the span) — no
`register_model` here. The policy is a `postprocess risk_policy` span. The prediction id arrives from the
gateway in W3C baggage, so both services' spans share it.

Run: `MLFLOW_TRACKING_URI=sqlite:///... uvicorn examples.model_service:app --port 8001`
(OTELML_EXAMPLE_MODEL_URI, default `models:/credit_risk@champion`; with an empty registry the model is
trained and registered first).
"""

from __future__ import annotations

import os

import mlflow.sklearn
import pandas as pd
from fastapi import FastAPI
from mlflow import MlflowClient
from pydantic import BaseModel

import otelml
from examples._telemetry import instrument_app
from examples.credit_model import ALIAS, MODEL_NAME, register
from otelml.instrumentation.mlflow import registry_identity

MODEL_URI = os.environ.get("OTELML_EXAMPLE_MODEL_URI", f"models:/{MODEL_NAME}@{ALIAS}")
APPROVE_BELOW = 0.25
DECLINE_ABOVE = 0.45


class Application(BaseModel):
    income: float
    debt_ratio: float
    credit_history_months: float
    open_accounts: float
    utilization: float
    age: float
    region: str
    plan: str
    amount: float
    term_months: float


class Score(BaseModel):
    prediction_id: str | None
    probability_of_default: float
    decision: str
    model_version: str


def _load_model() -> tuple[object, str]:
    if not MlflowClient().search_registered_models(filter_string=f"name = '{MODEL_NAME}'"):
        register()
    _, version, _ = registry_identity(MODEL_URI)  # type: ignore[misc]  (the version the alias names now)
    return mlflow.sklearn.load_model(MODEL_URI), version


model, model_version = _load_model()
app = FastAPI(title="credit-model")
instrument_app(app)


@otelml.postprocess(step="risk_policy")
def decide(probability: float) -> str:
    if probability < APPROVE_BELOW:
        return "approve"
    return "decline" if probability > DECLINE_ABOVE else "review"


@app.post("/score")
def score(application: Application) -> Score:
    row = pd.DataFrame([application.model_dump()])
    probability = float(model.predict_proba(row)[0, 1])  # type: ignore[attr-defined]
    decision = decide(probability)
    return Score(
        prediction_id=otelml.current_prediction_id(),
        probability_of_default=probability,
        decision=decision,
        model_version=model_version,
    )
