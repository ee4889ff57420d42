"""One label join, two readers: a real sidecar with `predictions` and `performance` receives predictions
and labels over OTLP/HTTP (labels before and after their predictions); each label, joined once,
shows in `GET /v1/predictions/{id}` and in `GET /v1/performance`, also after a restart on the same
state path, and waiting labels stay within `max_pending_labels`."""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import accuracy_score

from tests.collector.predictions.spans import inference, label, request
from tests.support.net import wait_until
from tests.support.sidecar import sidecar_config

pytestmark = pytest.mark.e2e

PREDS = [(os.urandom(16), os.urandom(16).hex(), v) for v in (1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1)]
TRUTH = [1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1]


def _post(car: Any, spans: list[dict[str, Any]]) -> None:
    body = request("svc", spans).raw
    req = urllib.request.Request(
        f"{car.http_url}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _predict(car: Any, rows: range) -> None:
    _post(
        car,
        [inference(t, p, {"x": 1.0}, value=v, score=0.5 + 0.1 * v) for t, p, v in (PREDS[i] for i in rows)],
    )


def _label(car: Any, rows: range) -> None:
    _post(car, [label(PREDS[i][1], TRUTH[i]) for i in rows])


def _labels_in_store(car: Any, rows: range) -> list[Any]:
    out = []
    for i in rows:
        code, doc = car.get(f"/v1/predictions/{PREDS[i][1]}")
        out.append(doc["label"]["value"] if code == 200 and doc["label"] else None)
    return out


def _windows(car: Any) -> list[dict[str, Any]]:
    return car.get("/v1/performance?model=credit")[1]["windows"]


def _both_readers_agree(car: Any, rows: range) -> None:
    want = [TRUTH[i] for i in rows]
    wait_until(lambda: _labels_in_store(car, rows) == want, 20, what="labels in /v1/predictions")
    for w, start in zip(_windows(car), range(rows.start, rows.stop, 4), strict=False):
        part = range(start, start + 4)
        assert w["n"] == 4 and w["n_labeled"] == 4
        expected = accuracy_score([TRUTH[i] for i in part], [PREDS[i][2] for i in part])
        assert w["realized"]["accuracy"] == pytest.approx(expected)


def test_one_label_join_feeds_both_readers_across_a_restart(sidecar: Any, tmp_path: Path) -> None:
    processors = {
        "ml_extract": {},
        "predictions": {},
        "performance": {
            "window": {"size": 4},
            "baseline": {"warmup": 0},
            "max_pending_labels": 6,
            "evaluate_interval": 0,
        },
    }
    config = sidecar_config(tmp_path, processors=processors)
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlp"]}
    }
    car = sidecar(config)
    _label(car, range(0, 4))  # labels before their predictions
    _predict(car, range(0, 8))
    _label(car, range(4, 8))
    _both_readers_agree(car, range(0, 8))
    counts = car.get("/v1/performance")[1]["counts"]
    assert counts["labels"] == 8 and counts["labels_joined"] == 8 and counts["labels_pending"] == 0

    # waiting labels are bounded: 8 labels of unknown predictions, 6 kept
    _post(car, [label(os.urandom(16).hex(), 1) for _ in range(8)])
    wait_until(lambda: car.get("/v1/performance")[1]["counts"]["labels_expired"] == 2, 10, what="expired")
    assert car.get("/v1/performance")[1]["counts"]["labels_pending"] == 6

    car.stop()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:  # each label is kept once
        in_store = db.execute(
            "SELECT count(*) FROM pred_annotations WHERE label_value IS NOT NULL"
        ).fetchone()
        (meta,) = db.execute(
            "SELECT value FROM kv WHERE namespace = 'predictions.index' AND key = 'meta'"
        ).fetchone()
    assert in_store[0] == 0 and sorted(m[0] for m in json.loads(meta)) == sorted(p for _, p, _ in PREDS[:8])
    again = sidecar(config)
    _both_readers_agree(again, range(0, 8))  # restored: windows, held labels, store
    assert again.get("/v1/performance")[1]["counts"]["labels_pending"] == 6  # and the waiting labels
    _label(again, range(8, 12))  # labels before predictions, after the restart
    _predict(again, range(8, 12))
    _both_readers_agree(again, range(0, 12))
    counts = again.get("/v1/performance")[1]["counts"]
    # the 4 new labels pushed the 4 oldest waiting ones out of the bound of 6, then joined
    assert counts["labels_joined"] == 12 and counts["labels_pending"] == 2 and counts["labels_expired"] == 6
