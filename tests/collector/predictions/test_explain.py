"""From drift to predictions, in process with the real ml_extract, drift and predictions processors on
one SQLite state database: the predictions that contribute most to a drifted feature are the shifted
ones, and their trace ids resolve in the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.httpapi import ApiError
from otelml_collector.predstore.queries import trace_document
from otelml_collector.processors.predictions.explain import explain
from otelml_collector.state import StateStore

from tests.collector.predictions.spans import T0, inference, request


def _make(kind: str, state: StateStore, config: dict[str, Any]) -> Any:
    factory = registry.get("processor", kind)
    return factory.create(
        factory.config_from_dict(config), ComponentContext(kind, state, MeterProvider(), LoggerProvider())
    )


def test_explain_ranks_the_shifted_predictions_first(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    extract = _make("ml_extract", state, {})
    drift = _make("drift", state, {"baseline": {"warmup": 1000}, "window": {"size": 1000}})
    preds = _make("predictions", state, {})
    for p in (drift, preds):
        p.start()
    rng = np.random.default_rng(4)
    shifted: set[str] = set()
    t = T0
    for phase in ("reference", "current"):
        for _ in range(10):
            spans = []
            for _ in range(100):
                x = float(rng.normal())
                pid = os.urandom(16).hex()
                if phase == "current" and rng.random() < 0.3:
                    x += 4.0
                    shifted.add(pid)
                t += 1_000_000
                spans.append(
                    inference(os.urandom(16), pid, {"income": x, "age": float(rng.normal())}, start=t)
                )
            request_ = extract.process(request("scoring", spans))
            drift.process(request_)
            preds.process(request_)
    drift.flush()
    drift.checkpoint()  # the baseline reaches the state database every checkpoint_seconds
    assert preds.flush()
    doc = explain(state, preds.store, {"model": "credit", "feature": "income", "limit": "50"})
    assert doc["drifted"] and doc["window"]["count"] == 1000
    top = doc["predictions"]
    assert len(top) == 50 and all(p["prediction_id"] in shifted for p in top)
    assert all(p["value"] > 2.0 for p in top)
    assert [p["contribution"] for p in top] == sorted((p["contribution"] for p in top), reverse=True)
    # every exemplar resolves to its prediction's trace
    for p in top[:5]:
        trace = trace_document(preds.store, bytes.fromhex(p["trace_id"]))
        assert trace is not None and trace["prediction_ids"] == [p["prediction_id"]]
    with pytest.raises(ApiError) as missing:
        explain(state, preds.store, {"model": "credit", "feature": "colour"})
    assert missing.value.status == 404
    with pytest.raises(ApiError) as bad:
        explain(state, preds.store, {"feature": "income"})
    assert bad.value.status == 400 and "model" in bad.value.message
    for p in (drift, preds):
        p.shutdown()
    state.close()
