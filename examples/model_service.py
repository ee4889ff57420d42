"""The model service: scores a loan application with the credit-risk Pipeline and applies the policy.

`POST /score` with the application's features returns the default probability, the decision and the
prediction id. The scikit-learn call is traced by otelml's instrumentor (`inference credit_risk`, features,
prediction and score on the span); the policy is a `postprocess risk_policy` span. The prediction id
arrives from the gateway in W3C baggage, so both services' spans share it.

Run: `uvicorn examples.model_service:app --port 8001` (model path in OTELML_EXAMPLE_MODEL).
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

import otelml
from examples._telemetry import instrument_app
from examples.credit_model import MODEL_NAME, MODEL_VERSION, train

MODEL_PATH = Path(os.environ.get("OTELML_EXAMPLE_MODEL", "examples/.artifacts/credit_risk.joblib"))
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


def _load_model() -> object:
    if not MODEL_PATH.exists():
        train(MODEL_PATH)
    model = joblib.load(MODEL_PATH)
    otelml.register_model(model, name=MODEL_NAME, version=MODEL_VERSION)
    return model


model = _load_model()
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
    probability = float(model.predict_proba(row)[0, 1])
    decision = decide(probability)
    return Score(
        prediction_id=otelml.current_prediction_id(),
        probability_of_default=probability,
        decision=decision,
    )
