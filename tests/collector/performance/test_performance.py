"""The `performance` processor in process with real components (ml_extract records from real OTLP
requests, real SQLite state, real OTel SDK providers): values equal sklearn.metrics, joins in any
order, bounds, alerts, exemplars, restart."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otelml_collector import registry
from otelml_collector.component import ComponentContext
from otelml_collector.state import StateStore
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from otelml.stats.performance import (
    Calibration,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from tests.collector.predictions.spans import inference, label, request

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
except ImportError:  # SDK < 1.39
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter


def sk_binary(y: np.ndarray, yp: np.ndarray, s: np.ndarray) -> dict[str, float]:
    out = {
        "accuracy": skm.accuracy_score(y, yp),
        "precision": skm.precision_score(y, yp, zero_division=0),
        "recall": skm.recall_score(y, yp, zero_division=0),
        "f1": skm.f1_score(y, yp, zero_division=0),
        "log_loss": skm.log_loss(y, s, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, s),
    }
    if len(set(y)) == 2:
        out["roc_auc"] = skm.roc_auc_score(y, s)
    return out


@pytest.mark.parametrize("n", [3, 40, 2000])
def test_metric_functions_equal_sklearn(n: int) -> None:
    rng = np.random.default_rng(n)
    s = np.round(rng.random(n), 2)  # ties in the scores
    y = (rng.random(n) < s).astype(int)
    yp = (s >= 0.5).astype(int)
    assert binary_metrics(y, yp, s) == pytest.approx(sk_binary(y, yp, s), abs=1e-12)
    yt, yq = rng.integers(0, 4, n), rng.integers(0, 5, n)
    assert multiclass_metrics(yt, yq) == pytest.approx(
        {
            "accuracy": skm.accuracy_score(yt, yq),
            "f1_macro": skm.f1_score(yt, yq, average="macro", zero_division=0),
        }
    )
    yr = rng.normal(size=n)
    pr = yr + rng.normal(size=n) * 0.3
    assert regression_metrics(yr, pr) == pytest.approx(
        {
            "mae": skm.mean_absolute_error(yr, pr),
            "rmse": np.sqrt(skm.mean_squared_error(yr, pr)),
            "mape": skm.mean_absolute_percentage_error(yr, pr),
            "r2": skm.r2_score(yr, pr),
        },
        abs=1e-12,
    )


def test_metric_edge_cases_equal_sklearn() -> None:
    y, yp, s = np.array([1, 1, 1]), np.array([0, 0, 0]), np.array([0.2, 0.4, 0.1])
    got = binary_metrics(y, yp, s)
    assert "roc_auc" not in got  # undefined with one class, as sklearn raises
    assert got["precision"] == skm.precision_score(y, yp, zero_division=0) == 0.0
    assert regression_metrics(np.ones(4), np.ones(4))["r2"] == skm.r2_score(np.ones(4), np.ones(4))
    assert regression_metrics(np.ones(4), np.zeros(4))["r2"] == skm.r2_score(np.ones(4), np.zeros(4))


def test_calibration_equals_sklearn_isotonic() -> None:
    rng = np.random.default_rng(3)
    s = rng.random(500)
    y = (rng.random(500) < s**2).astype(int)
    ours = Calibration.fit(s, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    probe = np.r_[rng.random(1000), -1.0, 2.0]
    assert np.abs(ours(probe) - ref.predict(probe)).max() < 1e-12


class Env:
    def __init__(self, state: StateStore, **config: Any) -> None:
        self.reader = InMemoryMetricReader()
        factory = registry.get("processor", "performance")
        self.meter_provider = MeterProvider(
            metric_readers=[self.reader],
            exemplar_filter=TraceBasedExemplarFilter(),
            views=factory.metric_views(),
        )
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        ctx = ComponentContext(
            "performance",
            state,
            self.meter_provider,
            self.logger_provider,
            log=logging.getLogger("test.performance"),
        )
        config.setdefault("evaluate_interval", 0)  # re-score windows on every request (alerts at once)
        self.proc = factory.create(factory.config_from_dict(config), ctx)
        extract = registry.get("processor", "ml_extract")
        self.extract = extract.create(
            extract.default_config(), ComponentContext("ml_extract", state, MeterProvider(), LoggerProvider())
        )
        self.proc.start()

    def send(self, spans: list[dict[str, Any]]) -> None:
        self.proc.process(self.extract.process(request("svc", spans)))

    def windows(self, **query: str) -> list[dict[str, Any]]:
        return self.proc.query(query)["windows"]

    def alerts(self) -> list[Any]:
        return [
            r.log_record
            for r in self.logs.get_finished_logs()
            if r.log_record.attributes.get("ml.performance.metric")
        ]


def predictions(
    rng: np.random.Generator, n: int, flip: float = 0.0, region: str | None = None
) -> list[tuple]:
    """(pid, trace id, span id, score, predicted, true label) with calibrated scores; `flip` of the labels
    inverted (a damaged population)."""
    out = []
    for _ in range(n):
        s = float(rng.random())
        truth = int(rng.random() < s)
        if rng.random() < flip:
            truth = 1 - truth
        out.append((os.urandom(16).hex(), os.urandom(16), s, int(s >= 0.5), truth, region))
    return out


def spans_of(rows: list[tuple]) -> list[dict[str, Any]]:
    out = []
    for pid, tid, s, pred, _, region in rows:
        span = inference(tid, pid, {"x": s}, value=pred, score=s)
        if region:
            span["attributes"]["ml.segment.region"] = region
        out.append(span)
    return out


def test_windows_equal_sklearn_with_labels_in_any_order() -> None:
    rng = np.random.default_rng(7)
    env = Env(StateStore(":memory:"), window={"size": 200}, baseline={"warmup": 0})
    rows = predictions(rng, 600)
    early = rows[:50]  # labels that arrive before their predictions
    env.send([label(pid, truth) for pid, _, _, _, truth, _ in early])
    for start in range(0, 600, 100):
        env.send(spans_of(rows[start : start + 100]))
    late = [r for r in rows[50:400] if rng.random() < 0.7]
    order = rng.permutation(len(late))
    env.send([label(late[i][0], late[i][4]) for i in order])
    labelled = {r[0] for r in early} | {r[0] for r in late}
    windows = env.windows(model="credit")
    assert [w["n"] for w in windows] == [200, 200, 200]
    for w, chunk in zip(windows, (rows[:200], rows[200:400], rows[400:600]), strict=True):
        have = [r for r in chunk if r[0] in labelled]
        assert w["n_labeled"] == len(have) and w["coverage"] == pytest.approx(len(have) / 200)
        if not have:
            assert w["realized"] == {}  # no labels: no realized value, not zero
            continue
        y = np.array([r[4] for r in have])
        yp = np.array([r[3] for r in have])
        s = np.array([r[2] for r in have])
        assert w["realized"] == pytest.approx(sk_binary(y, yp, s), abs=1e-12)
    assert env.proc.counts["labels_joined"] == len(labelled)


def test_regression_wrong_label_type_is_counted_not_fatal() -> None:
    env = Env(StateStore(":memory:"), window={"size": 10}, task="regression", baseline={"warmup": 0})
    rows = [(os.urandom(16).hex(), os.urandom(16)) for _ in range(10)]
    env.send(
        [
            inference(tid, pid, {"x": 1.0}, value=float(i) + 0.5, score=0.0)
            for i, (pid, tid) in enumerate(rows)
        ]
    )
    env.send([label(rows[0][0], "high")] + [label(pid, float(i)) for i, (pid, _) in enumerate(rows[1:], 1)])
    (w,) = env.windows()
    assert env.proc.counts["labels_wrong_type"] == 1 and w["n_labeled"] == 9
    truth = np.arange(1, 10, dtype=float)
    assert w["realized"]["mae"] == pytest.approx(skm.mean_absolute_error(truth, truth + 0.5))


def test_drop_in_one_segment_raises_one_alert_with_a_wrong_prediction() -> None:
    rng = np.random.default_rng(11)
    env = Env(
        StateStore(":memory:"),
        window={"size": 400},
        baseline={"warmup": 400},
        thresholds={"f1": 0.1},
        segments=["region"],
    )
    healthy = predictions(rng, 400, region="eu") + predictions(rng, 400, region="us")
    rng.shuffle(healthy)
    env.send(spans_of(healthy))
    env.send([label(r[0], r[4]) for r in healthy])
    damaged = predictions(rng, 400, flip=0.6, region="us") + predictions(rng, 400, region="eu")
    env.send(spans_of(damaged))
    env.send([label(r[0], r[4]) for r in damaged])
    alerts = env.alerts()
    segment_alerts = [a for a in alerts if a.attributes.get("ml.segment.region")]
    assert [a.attributes["ml.segment.region"] for a in segment_alerts] == ["us"]
    alert = segment_alerts[0]
    assert alert.attributes["ml.performance.kind"] == "realized"
    assert alert.attributes["ml.performance.value"] < alert.attributes["ml.performance.reference"] - 0.1
    wrong = {r[1]: r for r in damaged if r[3] != r[4] and r[5] == "us"}
    assert alert.trace_id.to_bytes(16, "big") in wrong  # the alert leads to a wrong prediction of "us"
    # the realized values of the damaged segment's window equal sklearn's
    (us,) = [w for w in env.windows(segment="region") if w["segment"] == {"region": "us"} and w["n"] == 400][
        -1:
    ]
    mine = [r for r in damaged if r[5] == "us"]
    y, yp = np.array([r[4] for r in mine]), np.array([r[3] for r in mine])
    assert us["realized"]["f1"] == pytest.approx(skm.f1_score(y, yp))
    # the API names the window's wrongest predictions where it alerted (the UI links them), none elsewhere
    assert us["alerts"] and us["trace_ids"]
    assert all(bytes.fromhex(t) in wrong for t in us["trace_ids"])
    assert all(w["trace_ids"] == [] for w in env.windows(segment="region") if not w["alerts"])
    # the gauge's exemplars are trace ids of wrong predictions
    points = [
        p
        for rm in env.reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "ml.model.performance"
        for p in m.data.data_points
    ]
    f1_us = [
        p
        for p in points
        if p.attributes.get("ml.segment.region") == "us"
        and p.attributes["ml.performance.metric"] == "f1"
        and p.attributes["ml.performance.kind"] == "realized"
    ]
    assert f1_us and all(e.trace_id.to_bytes(16, "big") in wrong for e in f1_us[0].exemplars)


def test_estimate_is_reported_when_a_window_closes_before_labels() -> None:
    rng = np.random.default_rng(5)
    env = Env(StateStore(":memory:"), window={"size": 1000}, baseline={"warmup": 1000})
    ref = predictions(rng, 1000)
    env.send(spans_of(ref))
    env.send([label(r[0], r[4]) for r in ref])
    fresh = predictions(rng, 1000)
    env.send(spans_of(fresh))
    last = env.windows()[-1]
    assert last["realized"] == {} and set(last["estimated"]) >= {"accuracy", "f1", "roc_auc"}
    truth = np.array([r[4] for r in fresh])
    pred = np.array([r[3] for r in fresh])
    # calibrated scores: the estimate is close to what the labels will say
    assert last["estimated"]["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred), abs=0.04)


def test_restart_keeps_windows_and_joins_late_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    state = StateStore(tmp_path)
    env = Env(state, window={"size": 100}, baseline={"warmup": 0})
    rows = predictions(rng, 100)
    env.send(spans_of(rows))
    env.send([label(r[0], r[4]) for r in rows[:30]])
    before = env.windows()
    env.proc.shutdown()
    state.close()
    state = StateStore(tmp_path)
    again = Env(state, window={"size": 100}, baseline={"warmup": 0})
    assert again.windows() == before
    again.send([label(r[0], r[4]) for r in rows[30:60]])
    (w,) = again.windows()
    y, yp = np.array([r[4] for r in rows[:60]]), np.array([r[3] for r in rows[:60]])
    assert w["n_labeled"] == 60 and w["realized"]["accuracy"] == pytest.approx(skm.accuracy_score(y, yp))
    state.close()


def test_labels_without_prediction_are_bounded() -> None:
    env = Env(StateStore(":memory:"), max_pending_labels=5)
    env.send([label(os.urandom(16).hex(), 1) for _ in range(8)])
    assert env.proc.counts["labels_expired"] == 3 and len(env.proc._pending) == 5
