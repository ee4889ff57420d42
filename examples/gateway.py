"""The gateway: receives loan applications, looks up the customer's features, asks the model service.

`POST /applications {"customer_id": ..., "amount": ..., "term_months": ...}` returns the decision and the
prediction id, which a feedback system keeps to record the outcome later (`examples/feedback.py`). The
feature lookup is a `feature_lookup customer_profile` span with store, view, version, served feature names
and freshness; the call to the model service carries the prediction id in baggage.

Run: `uvicorn examples.gateway:app --port 8000` (MODEL_SERVICE_URL, OTELML_FEATURE_STORE).
"""

from __future__ import annotations

import os

import requests
from fastapi import FastAPI, HTTPException
from opentelemetry.propagate import inject
from pydantic import BaseModel

import otelml
from examples._telemetry import instrument_app
from examples.feature_store import VIEW_NAME, VIEW_VERSION, FeatureStore

MODEL_SERVICE_URL = os.environ.get("MODEL_SERVICE_URL", "http://127.0.0.1:8001")
store = FeatureStore(os.environ.get("OTELML_FEATURE_STORE", "examples/.artifacts/features.sqlite"))
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
    traceparent: str | None


@app.post("/applications")
def apply(request: ApplicationRequest) -> Decision:
    with otelml.feature_lookup(view=VIEW_NAME, store=FeatureStore.name, version=VIEW_VERSION) as lookup:
        try:
            features, age_seconds = store.lookup(request.customer_id)
        except KeyError:
            raise HTTPException(status_code=404, detail=f"unknown customer {request.customer_id!r}") from None
        lookup.set_feature_names(list(features))
        lookup.set_freshness(age_seconds)
    payload = {**features, "amount": request.amount, "term_months": request.term_months}
    response = session.post(f"{MODEL_SERVICE_URL}/score", json=payload, timeout=10)
    response.raise_for_status()
    scored = response.json()
    carrier: dict[str, str] = {}
    inject(carrier)
    return Decision(
        prediction_id=scored["prediction_id"],
        decision=scored["decision"],
        probability_of_default=scored["probability_of_default"],
        traceparent=carrier.get("traceparent"),
    )
