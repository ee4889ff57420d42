"""Front service (Flask): looks up a customer's features and asks the back service for a decision.

Run: python front.py BACK_URL  -> prints its port on the first stdout line.
"""

from __future__ import annotations

import sys

import requests
from flask import Flask, jsonify, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from werkzeug.serving import make_server

import otelml
import otelml.auto  # sets up providers, propagator and instrumentors before the app exists

BACK_URL = sys.argv[1]
CUSTOMERS = {"7": {"income": 1.2, "debt_ratio": -0.4, "age": 0.3}}

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)
RequestsInstrumentor().instrument()


@app.get("/decide/<customer>")
def decide(customer: str):  # type: ignore[no-untyped-def]
    with otelml.feature_lookup(view="customer_features", store="inline", version="3") as lookup:
        features = CUSTOMERS[customer]
        lookup.set_feature_names(sorted(features))
    answer = requests.post(f"{BACK_URL}/score", json=features, timeout=10).json()
    return jsonify({**answer, "front_prediction_id": otelml.current_prediction_id()})


@app.post("/apply")
def apply():  # type: ignore[no-untyped-def]
    """An application whose features come in the request (traffic generators)."""
    with otelml.feature_lookup(view="customer_features", store="inline", version="3") as lookup:
        features = {name: float(value) for name, value in request.get_json().items()}
        lookup.set_feature_names(sorted(features))
    answer = requests.post(f"{BACK_URL}/score", json=features, timeout=10).json()
    return jsonify(answer)


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.port, flush=True)
    server.serve_forever()
