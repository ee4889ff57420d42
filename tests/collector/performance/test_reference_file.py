"""`otelml baseline build --score/--target` stores the reference performance and score calibration of a
real scikit-learn model; the sidecar's performance processor estimates windows from it before labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.state import StateStore
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from tests.collector.predictions.spans import inference, label, request

REPO = Path(__file__).resolve().parents[3]


def _data(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(size=(n, 2)) + np.array([shift, 0.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1])))).astype(int)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "defaulted": y})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelml.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_reference_from_baseline_file_gives_estimates_before_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train, holdout = _data(rng, 4000), _data(rng, 4000)
    model = LogisticRegression().fit(train[["a", "b"]], train["defaulted"])
    holdout["score"] = model.predict_proba(holdout[["a", "b"]])[:, 1]
    holdout["predicted"] = model.predict(holdout[["a", "b"]])
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    out = tmp_path / "baseline.json"
    built = _cli(
        "baseline",
        "build",
        str(tmp_path / "holdout.csv"),
        "--model",
        "credit",
        "--target",
        "defaulted",
        "--prediction",
        "predicted",
        "--score",
        "score",
        "--out",
        str(out),
    )
    assert built.returncode == 0, built.stderr
    perf = json.loads(out.read_text())["performance"]
    y, s, p = holdout["defaulted"], holdout["score"], holdout["predicted"]
    assert perf["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert perf["metrics"]["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert perf["metrics"]["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)

    state = StateStore(":memory:")
    factory = registry.get("processor", "performance")
    config = factory.config_from_dict({"window": {"size": 2000}, "baseline": {"path": str(out)}})
    proc = factory.create(config, ComponentContext("performance", state, MeterProvider(), LoggerProvider()))
    extract = registry.get("processor", "ml_extract")
    ex = extract.create(
        extract.default_config(), ComponentContext("e", state, MeterProvider(), LoggerProvider())
    )
    current = _data(rng, 2000, shift=1.0)  # covariate shift: P(y | x) unchanged
    score = model.predict_proba(current[["a", "b"]])[:, 1]
    pred = model.predict(current[["a", "b"]])
    ids = [(os.urandom(16), os.urandom(16).hex()) for _ in range(len(current))]
    spans = [
        inference(tid, pid, {"a": float(a)}, value=int(v), score=float(sc))
        for (tid, pid), a, v, sc in zip(ids, current["a"], pred, score, strict=True)
    ]
    proc.process(ex.process(request("svc", spans)))
    (window,) = proc.query({})["windows"]
    assert window["closed"] and window["realized"] == {}  # no labels yet: an estimate only
    estimated = window["estimated"]
    proc.process(
        ex.process(
            request(
                "labels", [label(pid, int(t)) for (_, pid), t in zip(ids, current["defaulted"], strict=True)]
            )
        )
    )
    (window,) = proc.query({})["windows"]
    truth = current["defaulted"]
    assert window["realized"]["f1"] == pytest.approx(skm.f1_score(truth, pred), abs=1e-12)
    assert window["realized"]["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, score), abs=1e-12)
    # under covariate shift the confidence-based estimate is close to what the labels said
    for metric in ("accuracy", "f1", "roc_auc"):
        assert estimated[metric] == pytest.approx(window["realized"][metric], abs=0.03), metric


def test_score_needs_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = _data(rng, 50)
    data["score"] = rng.random(50)
    data.to_csv(tmp_path / "d.csv", index=False)
    run = _cli(
        "baseline",
        "build",
        str(tmp_path / "d.csv"),
        "--model",
        "m",
        "--score",
        "score",
        "--out",
        str(tmp_path / "b.json"),
    )
    assert run.returncode == 2 and "--score needs --target" in run.stderr
