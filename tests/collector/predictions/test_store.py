"""The `predictions` processor and its SQLite store, in process (real protobuf requests, real SQLite
files): joins in any order, pending spans, eviction by max_spans and retention, restart, drops."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.predstore.queries import Filters, prediction_document, search, trace_document
from otelml_collector.state import StateStore

from tests.collector.predictions.spans import T0, inference, label, request, span


class Env:
    """ml_extract + predictions on one state directory."""

    def __init__(self, path: Path, **config: Any) -> None:
        self.state = StateStore(path)
        factory = registry.get("processor", "predictions")
        ctx = ComponentContext("predictions", self.state, MeterProvider(), LoggerProvider())
        self.proc = factory.create(factory.config_from_dict(config), ctx)
        extract = registry.get("processor", "ml_extract")
        self.extract = extract.create(
            extract.default_config(),
            ComponentContext("ml_extract", self.state, MeterProvider(), LoggerProvider()),
        )
        self.proc.start()

    def send(self, service: str, spans: list[dict[str, Any]]) -> None:
        self.proc.process(self.extract.process(request(service, spans)))

    def doc(self, pid: str) -> dict[str, Any] | None:
        assert self.proc.flush()
        return prediction_document(self.proc.store, pid)

    def close(self) -> None:
        self.proc.shutdown()
        self.state.close()


@pytest.fixture
def env(tmp_path: Path) -> Any:
    e = Env(tmp_path)
    yield e
    e.close()


def ids() -> tuple[bytes, str]:
    return os.urandom(16), os.urandom(16).hex()


def test_label_before_prediction_is_joined(env: Env) -> None:
    tid, pid = ids()
    env.send("labeler", [label(pid, 0)])
    doc = env.doc(pid)
    assert doc is not None and doc["model"] is None and doc["label"]["value"] == 0
    env.send("scoring", [inference(tid, pid, {"x": 1.0}, value=1)])
    doc = env.doc(pid)
    assert (doc["model"], doc["version"]) == ("credit", "1")
    assert doc["label"]["value"] == 0
    assert doc["label"]["delay_s"] == pytest.approx(3600.0)
    assert {s["name"] for s in doc["spans"]} == {"inference credit", "label credit"}


def test_spans_without_prediction_id_join_their_trace_in_any_order(env: Env) -> None:
    tid, pid = ids()
    before = span(tid, "GET /decide", {"http.method": "GET"}, kind=2)
    env.send("gateway", [before, span(os.urandom(16), "GET /healthz", {})])
    env.send("scoring", [inference(tid, pid, {"x": 1.0})])
    env.send("db", [span(tid, "SELECT customers", {"db.system": "sqlite"}, kind=3)])
    doc = env.doc(pid)
    assert sorted(s["service"] for s in doc["spans"]) == ["db", "gateway", "scoring"]
    assert env.proc.stats()["pending_spans"] == 1  # the health check's span waits, then expires


def test_pending_spans_are_bounded(tmp_path: Path) -> None:
    e = Env(tmp_path, pending={"max_spans": 5, "seconds": 30})
    try:
        e.send("gateway", [span(os.urandom(16), "GET /x", {}) for _ in range(8)])
        stats = e.proc.stats()
        assert stats["pending_spans"] == 5 and stats["pending_overflow"] == 3
    finally:
        e.close()


def test_max_spans_evicts_oldest_first(tmp_path: Path) -> None:
    e = Env(tmp_path, max_spans=100)
    pids = []
    try:
        for i in range(30):
            batch = []
            for j in range(10):
                tid, pid = ids()
                pids.append(pid)
                batch.append(inference(tid, pid, {"x": float(i)}, start=T0 + (i * 10 + j) * 1000))
            e.send("scoring", batch)
            assert e.proc.flush()
            assert e.proc.store.stats()["spans"] <= 100
        present = [e.doc(pid) is not None for pid in pids]
        # a prefix of the oldest is gone, the newest are all there
        assert present == sorted(present) and present[-95:] == [True] * 95 and not present[0]
        assert e.proc.stats()["evicted_spans"] == 300 - e.proc.stats()["spans"]
    finally:
        e.close()


def test_retention_evicts_by_arrival(env: Env) -> None:
    old_tid, old = ids()
    env.send("scoring", [inference(old_tid, old, {"x": 1.0})])
    assert env.doc(old) is not None
    env.proc.store.evict(now_unix_nano=time.time_ns() + 86400 * 10**9 + 1)  # default retention: 24h
    assert env.doc(old) is None
    assert trace_document(env.proc.store, old_tid) is None


def test_restart_keeps_the_store(tmp_path: Path) -> None:
    e = Env(tmp_path)
    tid, pid = ids()
    e.send("scoring", [inference(tid, pid, {"x": 2.5})])
    before = e.doc(pid)
    e.close()
    again = Env(tmp_path)
    try:
        assert again.doc(pid) == before
        assert again.proc.stats()["spans"] == 1
    finally:
        again.close()


def test_search_filters(env: Env) -> None:
    rows = []
    for i in range(20):
        tid, pid = ids()
        rows.append(pid)
        env.send(
            "scoring",
            [
                inference(
                    tid,
                    pid,
                    {"x": float(i), "plan": "pro" if i % 2 else "free"},
                    value=i % 2,
                    start=T0 + i * 10**9,
                )
            ],
        )
    env.send("labeler", [label(rows[3], 1)])
    assert env.proc.flush()
    store = env.proc.store
    found = search(store, Filters(feature="x", min=5, max=8))["predictions"]
    assert [p["prediction_id"] for p in found] == rows[8:4:-1]  # newest first
    assert {
        p["prediction_id"] for p in search(store, Filters(feature="plan", value="pro"))["predictions"]
    } == set(rows[1::2])
    assert len(search(store, Filters(value="1"))["predictions"]) == 10
    assert [p["prediction_id"] for p in search(store, Filters(label="any"))["predictions"]] == [rows[3]]
    assert len(search(store, Filters(since_unix_nano=T0 + 15 * 10**9))["predictions"]) == 5
    assert len(search(store, Filters(limit=3))["predictions"]) == 3
    assert search(store, Filters(model="other"))["predictions"] == []


def test_full_writer_queue_drops_and_counts(tmp_path: Path) -> None:
    e = Env(tmp_path, queue_size=2)
    try:
        with e.proc.store._cond:  # a stalled writer (the condition's lock held): the queue fills
            for _ in range(5):
                tid, pid = ids()
                e.proc.process(e.extract.process(request("scoring", [inference(tid, pid, {"x": 1.0})])))
        assert e.proc.flush()
        stats = e.proc.stats()
        assert (stats["dropped_chunks"], stats["dropped_spans"], stats["stored_spans"]) == (3, 3, 2)
    finally:
        e.close()
