"""A scoring client for the triage tests: real scikit-learn models, the otelml library and the OTel
SDK's OTLP exporter (configured by `import otelml.auto` from OTEL_* variables) sending to a sidecar.

    python client.py PHASES_JSON   ->  one JSON line per call on stdout

Each phase: {"n", "model", "version", "role" (primary|shadow|canary), "shift" (added to x0),
"inverted" (a model trained on the inverted rule), "tilted" (one trained on x0 > 0 alone),
"fail" (share of calls that raise), "sleep_ms",
"labels" (record the true label), "shadow": {version, inverted} (a shadow call on the same
prediction), "seed"}. The true label of a row is x0 + x1 > 0.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sklearn.linear_model import LogisticRegression

import otelml
import otelml.auto

FEATURES = ["x0", "x1", "x2", "x3"]


def models() -> dict[str, LogisticRegression]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return {"good": LogisticRegression().fit(X, y), "inverted": LogisticRegression().fit(X, 1 - y),
            "tilted": LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))}


def kind(phase: dict) -> str:
    return "inverted" if phase.get("inverted") else "tilted" if phase.get("tilted") else "good"


def call(model: LogisticRegression, name: str, version: str, role: str, row: np.ndarray,
         fail: bool, sleep_ms: float) -> tuple[int | None, float | None, bool, float]:
    t0 = time.perf_counter()
    try:
        with otelml.inference(model=name, version=version, role=role,
                              features=dict(zip(FEATURES, row.tolist(), strict=True))) as span:
            if sleep_ms:
                time.sleep(sleep_ms / 1000)
            if fail:
                raise RuntimeError("model backend unavailable")
            score = float(model.predict_proba(row[None, :])[0, 1])
            value = int(score >= 0.5)
            span.set_prediction(value, score=score)
            return value, score, False, time.perf_counter() - t0
    except RuntimeError:
        return None, None, True, time.perf_counter() - t0


def main() -> None:
    phases = json.loads(sys.argv[1])
    fitted = models()
    tracer = trace.get_tracer("triage-client")
    for phase in phases:
        rng = np.random.default_rng(phase.get("seed", 1))
        fail_share = phase.get("fail", 0.0)
        for _ in range(phase["n"]):
            row = rng.normal(size=4)
            row[0] += phase.get("shift", 0.0)
            truth = int(row[0] + row[1] > 0)
            fail = bool(rng.random() < fail_share)
            with tracer.start_as_current_span("POST /score", kind=trace.SpanKind.SERVER) as server:
                with otelml.prediction():
                    with otelml.feature_lookup(view="customer", freshness=phase.get("freshness", 5.0)):
                        pass
                    value, score, error, seconds = call(
                        fitted[kind(phase)], phase["model"], phase["version"],
                        phase.get("role", "primary"), row, fail, phase.get("sleep_ms", 0))
                    pid = otelml.current_prediction_id()
                    out = {"pid": pid, "trace_id": format(server.get_span_context().trace_id, "032x"),
                           "version": phase["version"], "value": value, "score": score, "truth": truth,
                           "error": error, "seconds": seconds}
                    shadow = phase.get("shadow")
                    if shadow:
                        sv, ss, se, sec = call(fitted[kind(shadow)], phase["model"], shadow["version"],
                                               "shadow", row, False, shadow.get("sleep_ms", 0))
                        out["shadow"] = {"value": sv, "score": ss, "error": se, "seconds": sec}
                if error:
                    server.set_status(Status(StatusCode.ERROR, "500"))
            if phase.get("labels"):
                otelml.record_label(pid, truth, model=phase["model"])
            print(json.dumps(out))
    provider = trace.get_tracer_provider()
    provider.force_flush(30_000)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
