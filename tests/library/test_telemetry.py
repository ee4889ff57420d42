"""Library metrics (with exemplars) and the opt-in prediction log record."""

from __future__ import annotations

import time

import numpy as np

import otelml


def _by_attr(points, key):
    return {p.attributes.get(key): p for p in points}


def test_prediction_counter_by_class_and_duration_with_exemplars(telemetry) -> None:
    outputs = [np.array(["approve"]), np.array(["deny"]), np.array(["approve"])]
    span_trace_ids = set()
    elapsed = []
    for out in outputs:
        t0 = time.perf_counter()
        with otelml.inference(model="credit", version="2", task="classification") as h:
            time.sleep(0.002)
            h.set_prediction(out)
        elapsed.append(time.perf_counter() - t0)
        span_trace_ids.add(h.span.get_span_context().trace_id)
    collected = telemetry.collect()
    counts = _by_attr(collected["ml.predictions"], "ml.prediction.class")
    assert {k: p.value for k, p in counts.items()} == {"approve": 2, "deny": 1}
    assert counts["approve"].attributes == {"ml.model.name": "credit", "ml.model.version": "2",
                                            "ml.prediction.class": "approve"}
    (hist,) = collected["ml.inference.duration"]
    assert hist.count == 3
    assert 0.006 <= hist.sum <= sum(elapsed)
    assert dict(hist.attributes) == {"ml.model.name": "credit", "ml.model.version": "2"}
    exemplar_traces = {e.trace_id for e in hist.exemplars}
    assert exemplar_traces and exemplar_traces <= span_trace_ids


def test_batch_counts_and_regression_buckets(telemetry) -> None:
    with otelml.inference(model="clf", task="classification") as h:
        h.set_prediction(np.array([0, 1, 1, 1, 0, 2]))
    with otelml.inference(model="price", task="regression") as h:
        h.set_prediction(np.array([42.0, 17.5, 0.5, -3.0]))
    points = telemetry.collect()["ml.predictions"]
    classes = {p.attributes["ml.prediction.class"]: p.value for p in points
               if p.attributes["ml.model.name"] == "clf"}
    assert classes == {"0": 2, "1": 3, "2": 1}
    buckets = {p.attributes["ml.prediction.bucket"]: p.value for p in points
               if p.attributes["ml.model.name"] == "price"}
    assert buckets == {"[10,100)": 2, "[0.1,1)": 1, "[-10,-1)": 1}


def test_failed_call_is_timed_with_error_type(telemetry) -> None:
    try:
        with otelml.inference(model="m"):
            raise TimeoutError
    except TimeoutError:
        pass
    (hist,) = telemetry.collect()["ml.inference.duration"]
    assert hist.attributes["error.type"] == "TimeoutError"


def test_metrics_off(telemetry) -> None:
    otelml.configure(metrics=False)
    with otelml.inference(model="m") as h:
        h.set_prediction(np.array([1]))
    assert telemetry.collect() == {}


def test_no_log_records_by_default(telemetry) -> None:
    with otelml.inference(model="m") as h:
        h.set_features(np.array([1.0]), ["a"])
        h.set_prediction(np.array([0]))
    assert telemetry.logs.get_finished_logs() == ()


def test_prediction_log_record_is_masked_and_trace_correlated(telemetry) -> None:
    otelml.configure(log_predictions=True, redact_features=["ssn"])
    with otelml.inference(model="credit", version="1") as h:
        h.set_features(np.array([[123456789.0, 52.0]]), ["ssn", "age"])
        h.set_prediction(np.array(["deny"]), np.array([0.91]))
    (record,) = [r.log_record for r in telemetry.logs.get_finished_logs()]
    ctx = h.span.get_span_context()
    assert record.trace_id == ctx.trace_id
    assert record.span_id == ctx.span_id
    assert record.event_name == "ml.prediction"
    assert dict(record.attributes) == {"ml.model.name": "credit", "ml.model.version": "1",
                                       "ml.prediction.id": h.prediction_id}
    body = record.body
    assert body["features"] == {"ml.feature.ssn": "[REDACTED]", "ml.feature.age": 52.0}
    assert body["prediction"] == {"ml.prediction.value": "deny", "ml.prediction.score": 0.91}
    assert "123456789" not in repr(body)


def test_pandas_and_list_outputs_are_counted_per_row(telemetry) -> None:
    import pandas as pd

    with otelml.inference(model="seg", task="classification") as h:
        h.set_prediction(pd.Series(["gold", "basic", "gold"]))
    with otelml.inference(model="seg", task="classification") as h:
        h.set_prediction(["basic"])
    points = telemetry.collect()["ml.predictions"]
    assert {p.attributes["ml.prediction.class"]: p.value for p in points} == {"gold": 2, "basic": 2}
