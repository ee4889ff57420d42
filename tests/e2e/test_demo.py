"""The main job (`make demo`) end to end: real services, real sidecar, real third-party OTLP backend."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from examples.demo import CANARY_CALLS
from examples.feature_store import customer_profiles

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "examples" / ".artifacts" / "demo"


def _attrs(record: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values()), None) for a in record.get("attributes", [])}


def test_demo_flags_the_shifted_features_and_follows_a_prediction_across_services() -> None:
    started = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--requests", "2000", "--window", "1000"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    table = [line.split() for line in run.stdout.splitlines() if line.startswith("credit_risk")]
    drifted = {row[2] for row in table if row[6] == "YES"}
    assert drifted == {"income", "utilization"}, table

    # `otelml trace` of the strongest alert's exemplar: the whole path through both services, and its label
    followed = run.stdout.split("following the strongest alert's exemplar prediction (otelml trace ", 1)[1]
    pid = followed.split(")", 1)[0]
    services = {name: service for service, name in re.findall(r"\[(credit-\w+)\] (\w+) ", followed)}
    expected = {
        "feature_lookup": "credit-gateway",
        "inference": "credit-model",
        "postprocess": "credit-model",
    }
    assert expected.items() <= services.items(), followed
    assert services.get("POST") in {"credit-gateway", "credit-model"}  # the HTTP spans of both services
    assert set(re.findall(r"ml\.prediction\.id = (\w+)", followed)) == {pid}  # one id in both services
    assert re.search(r"^label [01] at .* after \d", followed, flags=re.M), followed
    assert re.search(r"ml\.feature\.(income|utilization) = \S+  <- drift", followed), followed
    # the predictions behind the strongest drift, each with a trace id `otelml trace` resolves
    explained = run.stdout.split("the predictions behind the drift of ", 1)[1].split("following the", 1)[0]
    assert len(re.findall(r"^[0-9a-f]{32}  [0-9a-f]{32}  ", explained, flags=re.M)) == 20, explained
    # the performance table has realized values for the labelled windows
    assert re.search(r"^credit_risk .* 100%", run.stdout, flags=re.M), run.stdout[-3000:]
    # ... and the shifted population, whose defaults follow other causes, is scored worse: the model ranks
    # it no better than chance while the first window (the training population) keeps its holdout AUC
    lines = run.stdout.split("otelml performance):", 1)[1].split("(metric columns", 1)[0].splitlines()
    header = re.split(r"\s{2,}", next(x for x in lines if x.startswith("MODEL")).strip())
    windows = [dict(zip(header, re.split(r"\s{2,}", x.strip()), strict=True))
               for x in lines if x.startswith("credit_risk")]  # fmt: skip
    champion = MlflowClient(tracking_uri=f"sqlite:///{WORK / 'mlflow.db'}").get_model_version_by_alias(
        "credit_risk", "champion")
    windows = [w for w in windows if w["VERSION"] == str(champion.version)]  # not the canary's
    realized = [{m: float(w[m].split(" / ")[0]) for m in ("ROC_AUC", "F1")} for w in windows]
    assert len(realized) == 2, windows
    assert realized[0]["ROC_AUC"] > 0.65 and realized[1]["ROC_AUC"] < realized[0]["ROC_AUC"] - 0.1, windows
    assert realized[1]["F1"] < realized[0]["F1"], windows

    records = [json.loads(x) for x in (WORK / "backend.log").read_text().splitlines() if x.startswith("{")]
    spans = [r for r in records if "spanId" in r and "name" in r and "severityNumber" not in r]
    inference = [s for s in spans if s["name"] == "inference credit_risk"]
    assert len(inference) == 2000 + CANARY_CALLS  # every prediction forwarded (service and canary)
    labels = [s for s in spans if s["name"] == "label credit_risk"]
    assert len(labels) == 2000 + CANARY_CALLS
    by_id = {_attrs(s)["ml.prediction.id"]: s for s in inference}
    label = _attrs(labels[0])
    assert label["ml.prediction.id"] in by_id and label["ml.label.value"] in ("0", "1", 0, 1)
    assert float(label["ml.label.delay"]) > 0
    assert labels[0]["links"][0]["traceId"] == by_id[label["ml.prediction.id"]]["traceId"]  # linked to it
    alerts = [r for r in records if "severityNumber" in r and "ml.drift.score" in _attrs(r)]
    assert {_attrs(a)["ml.feature.name"] for a in alerts} == {"income", "utilization"}
    inference_traces = {s["traceId"] for s in inference}
    assert all(a["traceId"] in inference_traces for a in alerts)  # each alert names a real prediction

    # Feast -> model: each prediction's feature lookup (gateway, Feast instrumentor) and its inference
    # (model service, MLflow-registered model) share the prediction id and the trace
    lookups = {_attrs(s)["ml.prediction.id"]: s for s in spans
               if s["name"] == "feature_lookup customer_profile"}
    version = str(champion.version)
    service = {pid for pid, span in by_id.items() if _attrs(span)["ml.model.version"] == version}
    assert lookups.keys() == service and len(service) == 2000  # the canary's predictions had no lookup
    assert all(lookups[pid]["traceId"] == by_id[pid]["traceId"] for pid in service)
    pid, lookup = next(iter(lookups.items()))
    attrs = _attrs(lookup)
    lineage = ("ml.feature_store.name", "ml.feature_store.project", "ml.feature_view.name")
    assert [attrs[k] for k in lineage] == ["feast", "credit", "customer_profile"]
    assert 0 <= float(attrs["ml.feature_view.freshness"]) < time.time() - started  # written at the start
    # the entity key is hashed (OTELML_HASH_FEATURES=customer_id); the features Feast served for that
    # customer are the ones the model scored
    normal, shifted = customer_profiles(1000)
    profiles = {"sha256:" + hashlib.sha256(f"demo-salt{c}".encode()).hexdigest(): row
                for frame in (normal, shifted) for c, row in frame.iterrows()}
    served = profiles[attrs["ml.feature.customer_id"]]
    scored = _attrs(by_id[pid])
    assert float(scored["ml.feature.income"]) == served["income"]
    assert scored["ml.feature.plan"] == served["plan"]
    # the model's registry identity, as the MLflow registry itself reports it
    assert (scored["ml.model.version"], scored["ml.model.run_id"]) == (str(champion.version), champion.run_id)
