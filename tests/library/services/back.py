"""Back service (FastAPI): scores features with a real scikit-learn model, then applies a threshold.

Run: python back.py  -> prints its port on the first stdout line. Configured by OTEL_* variables and
BACK_MODE (manual | auto, see below).
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sklearn.linear_model import LogisticRegression

import otelml
import otelml.auto  # sets up providers, propagator and instrumentors before the app exists

FEATURES = ["income", "debt_ratio", "age"]
rng = np.random.default_rng(0)
X_train = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
model = LogisticRegression().fit(X_train, (X_train["income"] - X_train["debt_ratio"] > 0).astype(int))

app = FastAPI()


# BACK_MODE=manual: the model call is wrapped with otelml.inference by hand (sklearn instrumentor off);
# BACK_MODE=auto: the scikit-learn instrumentor that otelml.auto turned on makes the inference span.
MANUAL = os.environ.get("BACK_MODE", "manual") == "manual"
otelml.register_model(model, name="credit", version="1")


@app.post("/score")
def score(features: dict[str, float]) -> dict[str, object]:
    X = np.array([[features[name] for name in FEATURES]])
    if MANUAL:
        with otelml.inference(model="credit", version="1", framework="sklearn", task="classification",
                              features=X, feature_names=FEATURES) as h:
            proba = model.predict_proba(X)
            h.set_prediction(model.classes_[proba.argmax(axis=1)], proba[:, 1])
    else:
        proba = model.predict_proba(pd.DataFrame(X, columns=FEATURES))
    with otelml.postprocess(step="threshold") as p:
        decision = "approve" if proba[0, 1] >= 0.5 else "deny"
        p.set_decision(decision)
    pid = otelml.current_prediction_id()
    return {"decision": decision, "score": float(proba[0, 1]), "prediction_id": pid}


@app.post("/label/{prediction_id}")
def label(prediction_id: str, value: int) -> dict[str, str]:
    """Ground truth arriving later (another request, another trace)."""
    otelml.record_label(prediction_id, value, model="credit", version="1")
    return {"prediction_id": prediction_id}


FastAPIInstrumentor.instrument_app(app)

if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
