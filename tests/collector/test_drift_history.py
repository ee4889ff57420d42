"""`GET /v1/drift/history`: the closed windows of a model version, oldest first, with their scores and their
counts per baseline bin (what the web UI draws), checked against numpy's histogram of the values really fed;
kept across a restart."""

from __future__ import annotations

import numpy as np
import pytest
from otelml_collector.httpapi import ApiError
from otelml_collector.state import StateStore

from tests.collector.test_drift_processor import SHIFTED, Env, Feed, drive, make

WARMUP, WINDOW = 2000, 1000


def _counts_by_numpy(values: np.ndarray, edges: list[float]) -> list[int]:
    inner, _ = np.histogram(values, bins=np.asarray(edges))
    return [int((values < edges[0]).sum()), *inner.tolist(), int((values > edges[-1]).sum())]


def test_history_holds_each_window_with_scores_and_bin_counts(tmp_path) -> None:
    env = Env(StateStore(tmp_path / "state.sqlite"))
    proc = make(env, baseline={"warmup": WARMUP}, window={"size": WINDOW, "seconds": 0})
    feed = Feed()
    drive(proc, feed, WARMUP)
    fed = [np.concatenate(drive(proc, feed, WINDOW, chunk=250)) for _ in range(2)]
    fed.append(np.concatenate(drive(proc, feed, WINDOW, shift=1.0, chunk=250)))
    proc.flush()

    doc = proc.history({"model": "m"})
    (entry,) = doc["models"]
    assert (entry["model"], entry["version"], entry["baseline"]) == ("m", "1", "warmup")
    assert [w["count"] for w in entry["windows"]] == [WINDOW] * 3
    reference = entry["reference"][SHIFTED]
    assert reference["kind"] == "numeric" and sum(reference["counts"]) == WARMUP
    for window, values in zip(entry["windows"], fed, strict=True):
        assert window["counts"][SHIFTED] == _counts_by_numpy(values, reference["edges"])
    drifted = [
        [s["feature"] for s in w["scores"] if s["drifted"] and s["kind"] == "feature"]
        for w in entry["windows"]
    ]
    assert drifted == [[], [], [SHIFTED]]
    assert any(s["alert"] and s["feature"] == SHIFTED for s in entry["windows"][-1]["scores"])
    # the last window's scores are what /v1/drift says now
    now = {(r["feature"], r["method"]): r["score"] for r in proc.query({"model": "m"})["drift"]}
    assert {(s["feature"], s["method"]): s["score"] for s in entry["windows"][-1]["scores"]} == now
    assert [w["end"] for w in proc.history({"last": "1"})["models"][0]["windows"]] == [
        entry["windows"][-1]["end"]
    ]
    proc.shutdown()

    again = make(
        Env(StateStore(tmp_path / "state.sqlite")), baseline={"warmup": WARMUP}, window={"size": WINDOW}
    )
    assert again.history({"model": "m"})["models"][0]["windows"] == entry["windows"]
    again.shutdown()


@pytest.mark.parametrize(("query", "message"), [({"last": "x"}, "last:"), ({"modle": "m"}, "modle:")])
def test_history_refuses_bad_parameters_naming_them(query, message) -> None:
    proc = make(Env(StateStore(":memory:")), baseline={"warmup": 10}, window={"size": 10})
    with pytest.raises(ApiError) as err:
        proc.history(query)
    assert err.value.status == 400 and err.value.message.startswith(message)
    proc.shutdown()
