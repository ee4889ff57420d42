"""Canary and shadow verdicts through a real sidecar: the scoring client serves two versions of one
model (a traffic split, or a shadow on the same predictions) with labels; `otelml canary` must give
promote / rollback / inconclusive with the exit code, and its figures must equal scipy's and
sklearn's on the client's own record of what it served."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score

from tests.collector.triage.harness import cli, run_client, triage_config
from tests.support.net import wait_until

pytestmark = pytest.mark.e2e


def _canary(car: Any, model: str, expect_calls: int, *extra: str) -> tuple[int, dict[str, Any]]:
    def stored() -> bool:
        status, doc = car.get(f"/v1/canary?model={model}&baseline=1&candidate=2")
        return status == 200 and sum(doc["samples"].values()) >= expect_calls and (
            doc["checks"][2]["status"] != "skipped" or doc["verdict"] == "inconclusive")

    wait_until(stored, 60, what=f"{expect_calls} calls of {model} stored")
    done = cli("canary", "--model", model, "--baseline", "1", "--candidate", "2", "--url", car.api,
               "--format", "json", *extra)
    doc = json.loads(done.stdout) if done.stdout.startswith("{") else {"stderr": done.stderr}
    return done.returncode, doc


def _check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in doc["checks"] if c["name"] == name]
    return check


def _accuracy(rows: list[dict[str, Any]]) -> float:
    return float(accuracy_score([r["truth"] for r in rows], [r["value"] for r in rows]))


def _alerts(sink: Any) -> list[Any]:
    """Log records (protobuf `LogRecord`s) of the rollback event the sink received."""
    return [r for r in list(sink.logs) if r.event_name == "ml.canary.rollback"]


def phase(version: str, n: int, seed: int, **kw: Any) -> dict[str, Any]:
    return {"model": "scoring", "version": version, "n": n, "seed": seed, "labels": True, **kw}


def test_a_worse_canary_is_rolled_back_and_alerts_once(sidecar: Any, otlp_sink: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path, downstream=otlp_sink.endpoint))
    rows = run_client(car.http_url, [phase("1", 250, 1), phase("2", 250, 2, inverted=True, role="canary")])
    code, doc = _canary(car, "scoring", 500)
    assert code == 1 and doc["verdict"] == "rollback" and doc["mode"] == "canary", doc
    base, cand = rows[:250], rows[250:]
    perf = _check(doc, "performance")
    assert perf["status"] == "fail" and perf["metric"] == "accuracy"
    assert perf["baseline"] == pytest.approx(_accuracy(base), abs=1e-6)
    assert perf["candidate"] == pytest.approx(_accuracy(cand), abs=1e-6)
    shift = _check(doc, "prediction_shift")
    expected = ks_2samp([r["score"] for r in base], [r["score"] for r in cand])
    assert shift["value"] == pytest.approx(expected.statistic, abs=1e-6)
    wrong = {r["trace_id"] for r in cand if r["value"] != r["truth"]}
    assert doc["trace_ids"] and set(doc["trace_ids"]) <= wrong
    wait_until(lambda: _alerts(otlp_sink), 30, what="the rollback alert at the sink")
    cli("canary", "--model", "scoring", "--baseline", "1", "--candidate", "2", "--url", car.api)
    (alert,) = _alerts(otlp_sink)  # one alert per incident, not one per query
    attrs = {kv.key: kv.value for kv in alert.attributes}
    assert attrs["ml.model.version"].string_value == "2" and attrs["ml.canary.baseline"].string_value == "1"
    assert alert.trace_id.hex() in wrong and alert.severity_text == "WARN"
    # a Flagger rollout webhook POSTs its own JSON body; the query string decides
    hook = urllib.request.Request(car.api + "/v1/canary?model=scoring&baseline=1&candidate=2&gate=rollback",
                                  data=json.dumps({"name": "scoring", "phase": "Progressing"}).encode(),
                                  headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(hook, timeout=10)
    assert failed.value.code == 409 and json.loads(failed.value.read())["verdict"] == "rollback"


def test_an_equal_canary_is_promoted(sidecar: Any, tmp_path: Path) -> None:
    # Both versions run the same sub-millisecond model in one client: on a loaded machine the p95 of 250
    # such calls moves by 2x between phases, so this test (about equal predictions) allows 10x.
    car = sidecar(triage_config(tmp_path, max_latency_ratio=10.0))
    rows = run_client(car.http_url, [phase("1", 250, 1), phase("2", 250, 2, role="canary")])
    code, doc = _canary(car, "scoring", 500)
    not_passed = [c for c in doc.get("checks", [doc]) if c.get("status") != "pass"]
    assert code == 0 and doc["verdict"] == "promote", not_passed
    base, cand = rows[:250], rows[250:]
    assert doc["samples"] == {"baseline": 250, "candidate": 250}
    expected = ks_2samp([r["score"] for r in base], [r["score"] for r in cand])
    shift = _check(doc, "prediction_shift")
    assert shift["value"] == pytest.approx(expected.statistic, abs=1e-6)
    assert shift["p_value"] == pytest.approx(expected.pvalue, rel=1e-2)
    perf = _check(doc, "performance")
    assert perf["status"] == "pass" and perf["candidate"] == pytest.approx(_accuracy(cand), abs=1e-6)
    assert car.get("/v1/canary?model=scoring&baseline=1&candidate=2&gate=promote")[0] == 200


def test_too_few_candidate_calls_are_inconclusive(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    run_client(car.http_url, [phase("1", 250, 1), phase("2", 60, 2, inverted=True, role="canary")])
    code, doc = _canary(car, "scoring", 310)
    assert code == 3 and doc["verdict"] == "inconclusive", doc
    assert doc["samples"] == {"baseline": 250, "candidate": 60}
    assert car.get("/v1/canary?model=scoring&baseline=1&candidate=2&gate=promote")[0] == 409
    bad = cli("canary", "--model", "scoring", "--baseline", "1", "--candidate", "9", "--url", car.api)
    assert bad.returncode == 2 and "version '9'" in bad.stderr


def test_shadow_agreement_equals_the_clients_count(sidecar: Any, tmp_path: Path) -> None:
    car = sidecar(triage_config(tmp_path))
    rows = run_client(car.http_url, [phase("1", 300, 3, shadow={"version": "2", "tilted": True})])
    code, doc = _canary(car, "scoring", 600)
    agree = sum(r["value"] == r["shadow"]["value"] for r in rows) / len(rows)
    assert doc["mode"] == "shadow" and doc["samples"] == {"baseline": 300, "candidate": 300}
    assert doc["agreement"] == pytest.approx(agree, abs=1e-6)
    check = _check(doc, "agreement")
    assert check["pairs"] == 300 and check["value"] == pytest.approx(agree, abs=1e-6)
    assert 0.5 < agree < 0.9  # the tilted shadow disagrees often enough to fail min_agreement 0.9
    assert code == 1 and doc["verdict"] == "rollback" and "agreement" in doc["failed"]
    perf = _check(doc, "performance")  # scored on the primary's labels
    assert perf["candidate"] == pytest.approx(
        accuracy_score([r["truth"] for r in rows], [r["shadow"]["value"] for r in rows]), abs=1e-6)
