"""The gateway: receives loan applications, looks up the customer's features, asks the model service.

`POST /applications {"customer_id": ..., "amount": ..., "term_months": ...}` returns the decision and the
prediction id, which a feedback system keeps to record the outcome later (`examples/feedback.py`). The
features come from a real Feast repository (`examples/feature_store.py`, applied and materialized at
start); otelml's Feast instrumentor turns the lookup into a `feature_lookup customer_profile` span (store,
project, view, served feature names, freshness) with no code here. The call to the model service carries
the prediction id in baggage, so both services' spans share it and the trace.

Feast pins pandas < 3: run it with the Feast environment's Python (`make feast`), as `make demo` does:
`.venv-feast/bin/python -m uvicorn examples.gateway:app --port 8000` (MODEL_SERVICE_URL, OTELML_FEATURE_REPO).
"""

from __future__ import annotations

import os

import requests
from fastapi import FastAPI, HTTPException
from opentelemetry.propagate import inject
from pydantic import BaseModel

from examples._telemetry import instrument_app
from examples.feature_store import CustomerFeatures

MODEL_SERVICE_URL = os.environ.get("MODEL_SERVICE_URL", "http://127.0.0.1:8001")
features = CustomerFeatures(os.environ.get("OTELML_FEATURE_REPO", "examples/.artifacts/feature_repo"))
session = requests.Session()
app = FastAPI(title="credit-gateway")
instrument_app(app)


class ApplicationRequest(BaseModel):
    customer_id: str
    amount: float
    term_months: float


class Decision(BaseModel):
    prediction_id: str | None
    decision: str
    probability_of_default: float
    model_version: str
    traceparent: str | None


@app.post("/applications")
def apply(request: ApplicationRequest) -> Decision:
    try:
        profile = features.lookup(request.customer_id)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"unknown customer {request.customer_id!r}") from None
    payload = {**profile, "amount": request.amount, "term_months": request.term_months}
    response = session.post(f"{MODEL_SERVICE_URL}/score", json=payload, timeout=10)
    response.raise_for_status()
    scored = response.json()
    carrier: dict[str, str] = {}
    inject(carrier)
    return Decision(
        prediction_id=scored["prediction_id"],
        decision=scored["decision"],
        probability_of_default=scored["probability_of_default"],
        model_version=scored["model_version"],
        traceparent=carrier.get("traceparent"),
    )
