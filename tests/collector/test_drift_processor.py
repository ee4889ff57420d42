"""Drift processor on hand-built ModelBatches with in-memory OTel providers (the SDK's own readers).

Scores are checked against scipy on the raw values; exemplars and alerts against the rows that
were really fed in.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.drift import DriftFactory
from otelml_collector.records import ModelBatch
from otelml_collector.state import StateStore
from scipy import stats as sps

N_FEATURES = 6
SHIFTED = "f3"


class CapturingReader(MetricReader):
    """Keeps every collection (the processor flushes once per closed window)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list = []

    def _receive_metrics(self, metrics_data, timeout_millis: float = 10_000, **kwargs) -> None:
        self.batches.append(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


class Env:
    def __init__(self, state: StateStore, views: bool = True) -> None:
        self.reader = CapturingReader()
        self.meter_provider = MeterProvider(
            metric_readers=[self.reader],
            exemplar_filter=TraceBasedExemplarFilter(),
            views=DriftFactory().metric_views() if views else [],
        )
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.ctx = ComponentContext(
            name="drift",
            state=state,
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            log=logging.getLogger("test.drift"),
            settings={"trace_url_template": "http://jaeger/trace/{trace_id}"},
        )

    def points(self, metric: str) -> list:
        """Points of `metric` exported by the last flush (the last closed window)."""
        data = self.reader.batches[-1] if self.reader.batches else None
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out


class Feed:
    """Generates batches and remembers every row fed (ids and values) to check outputs against."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: dict[bytes, dict[str, float]] = {}  # span id -> feature values
        self.trace_of: dict[bytes, bytes] = {}
        self.t = 1_700_000_000_000_000_000

    def batch(self, n: int, shift: float = 0.0, model: str = "m", version: str = "1") -> ModelBatch:
        trace = self.rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
        span = self.rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
        numeric = {f"f{i}": self.rng.normal(0.0, 1.0, n) for i in range(N_FEATURES)}
        numeric[SHIFTED] = numeric[SHIFTED] + shift
        cat = self.rng.choice(np.array(["a", "b", "c"], dtype=object), size=n, p=[0.5, 0.3, 0.2])
        times = self.t + np.arange(n, dtype=np.int64) * 1000
        self.t += n * 1000
        for i in range(n):
            sid = span[i].tobytes()
            self.rows[sid] = {k: float(v[i]) for k, v in numeric.items()}
            self.trace_of[sid] = trace[i].tobytes()
        return ModelBatch(
            model=model,
            version=version,
            trace_id=trace,
            span_id=span,
            time_unix_nano=times,
            prediction_id=[None] * n,
            numeric=numeric,
            categorical={"plan": cat},
            prediction_score=self.rng.uniform(0, 1, n),
        )


def request_of(*batches: ModelBatch) -> TelemetryRequest:
    return TelemetryRequest(signal=Signal.TRACES, raw=None, records=list(batches))


def make(env: Env, **raw):
    factory = DriftFactory()
    cfg = factory.config_from_dict(raw)
    proc = factory.create(cfg, env.ctx)
    proc.start()
    return proc


def drive(proc, feed: Feed, n: int, shift: float = 0.0, chunk: int = 500) -> list[np.ndarray]:
    """Feed n rows in batches; returns the values of SHIFTED fed, per batch."""
    fed = []
    for lo in range(0, n, chunk):
        b = feed.batch(min(chunk, n - lo), shift)
        fed.append(b.numeric[SHIFTED])
        proc.process(request_of(b))
    return fed


@pytest.fixture
def env():
    return Env(StateStore(":memory:"))


def test_shifted_feature_flagged_others_not_scores_match_scipy(env):
    proc = make(env, baseline={"warmup": 2000}, window={"size": 4000})
    feed = Feed()
    drive(proc, feed, 2000)  # warm-up
    ref = {k: np.array([feed.rows[s][k] for s in list(feed.rows)[:2000]]) for k in ("f0", SHIFTED)}
    before = set(feed.rows)
    drive(proc, feed, 4000, shift=1.0)
    cur_ids = [s for s in feed.rows if s not in before]
    cur = {k: np.array([feed.rows[s][k] for s in cur_ids]) for k in ("f0", SHIFTED)}
    proc.flush()

    points = env.points("ml.feature.drift")
    by = {(p.attributes["ml.feature.name"], p.attributes["ml.drift.method"]): p for p in points}
    # one point per feature per method, with exactly the contract attributes
    for p in points:
        assert set(p.attributes) == {
            "ml.model.name",
            "ml.model.version",
            "ml.feature.name",
            "ml.drift.method",
        }
        assert p.attributes["ml.model.name"] == "m" and p.attributes["ml.model.version"] == "1"
    assert {f for f, _ in by} == {f"f{i}" for i in range(N_FEATURES)} | {"plan"}
    assert len(points) == len(by)

    # independent references on the raw values
    for feat in ("f0", SHIFTED):
        ks = sps.ks_2samp(ref[feat], cur[feat]).statistic
        assert by[(feat, "ks")].value == pytest.approx(ks, abs=0.02)
        w = sps.wasserstein_distance(ref[feat], cur[feat]) / np.std(ref[feat], ddof=1)
        assert by[(feat, "wasserstein")].value == pytest.approx(w, abs=0.03)
    assert by[(SHIFTED, "wasserstein")].value > 0.5
    assert by[("f0", "wasserstein")].value < 0.1

    answer = proc.query({})
    flagged = {r["feature"] for r in answer["drift"] if r["drifted"]}
    assert flagged == {SHIFTED}
    proc.shutdown()


def test_exemplars_are_real_predictions_of_the_window_in_the_top_bins(env):
    proc = make(env, baseline={"warmup": 2000}, window={"size": 3000}, exemplars={"per_point": 5})
    feed = Feed(2)
    drive(proc, feed, 2000)
    warm_values = np.array([r[SHIFTED] for r in feed.rows.values()])
    before = set(feed.rows)
    drive(proc, feed, 3000, shift=1.5)
    window_ids = set(feed.rows) - before
    proc.flush()

    points = [p for p in env.points("ml.feature.drift") if p.attributes["ml.feature.name"] == SHIFTED]
    assert points
    p90 = np.quantile(warm_values, 0.9)
    for p in points:
        assert len(p.exemplars) == 5
        for ex in p.exemplars:
            sid = ex.span_id.to_bytes(8, "big")
            assert sid in window_ids, "exemplar is not a prediction of this window"
            assert feed.trace_of[sid] == ex.trace_id.to_bytes(16, "big")
            value = ex.filtered_attributes["ml.drift.exemplar.value"]
            assert value == feed.rows[sid][SHIFTED]
            assert value > p90  # shifted up: the excess lies in the upper tail of the baseline
    # unchanged features carry no exemplars
    others = [p for p in env.points("ml.feature.drift") if p.attributes["ml.feature.name"] == "f0"]
    assert others and all(not p.exemplars for p in others)
    proc.shutdown()


def test_alert_log_on_crossing_only_with_exemplar_trace_id(env):
    proc = make(env, baseline={"warmup": 2000}, window={"size": 3000})
    feed = Feed(3)
    drive(proc, feed, 2000)
    drive(proc, feed, 3000)  # stable window: no alert
    proc.flush()
    assert env.logs.get_finished_logs() == ()
    before = set(feed.rows)
    drive(proc, feed, 3000, shift=1.0)
    window_ids = set(feed.rows) - before
    proc.flush()
    logs = [r.log_record for r in env.logs.get_finished_logs()]
    assert len(logs) == 1, [r.attributes for r in logs]
    rec = logs[0]
    assert rec.severity_number.name == "WARN"
    a = dict(rec.attributes)
    assert a["ml.model.name"] == "m" and a["ml.model.version"] == "1"
    assert a["ml.feature.name"] == SHIFTED and a["ml.drift.method"] == "wasserstein"
    assert a["ml.drift.score"] >= a["ml.drift.threshold"] == 0.1
    assert a["ml.drift.window.count"] == 3000
    assert a["ml.drift.window.start"] < a["ml.drift.window.end"]
    sid = rec.span_id.to_bytes(8, "big")
    assert sid in window_ids and feed.trace_of[sid] == rec.trace_id.to_bytes(16, "big")
    # still drifted in the next window: no second alert (it did not cross again)
    drive(proc, feed, 3000, shift=1.0)
    proc.flush()
    assert len(env.logs.get_finished_logs()) == 1
    proc.shutdown()


def test_prediction_drift_gauge_and_query(env):
    proc = make(env, baseline={"warmup": 1000}, window={"size": 1000})
    feed = Feed(4)
    drive(proc, feed, 2000)
    proc.flush()
    pred = env.points("ml.prediction.drift")
    assert {p.attributes["ml.feature.name"] for p in pred} == {"prediction.score"}
    answer = proc.query({"model": "m"})
    assert answer["trace_url_template"] == "http://jaeger/trace/{trace_id}"
    assert answer["models"][0]["baseline"] == "warmup"
    kinds = {(r["feature"], r["kind"]) for r in answer["drift"]}
    assert ("prediction.score", "prediction") in kinds and ("f0", "feature") in kinds
    from otelml_collector.httpapi import ApiError

    with pytest.raises(ApiError, match="no drift state for model 'nope'"):
        proc.query({"model": "nope"})
    proc.shutdown()


def test_below_min_samples_no_score_and_time_window_waits(env):
    proc = make(env, baseline={"warmup": 500}, window={"size": 5000, "seconds": 0.2, "min_samples": 1000})
    feed = Feed(5)
    drive(proc, feed, 500 + 600)
    import time

    time.sleep(0.8)  # the time limit passed, but 600 < min_samples: the window stays open
    assert env.points("ml.feature.drift") == []
    assert proc.query({})["models"][0]["open_window"]["count"] == 600
    drive(proc, feed, 500)
    deadline = time.monotonic() + 5
    while proc.windows_closed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.windows_closed == 1
    points = env.points("ml.feature.drift")
    assert points and {r["window"]["count"] for r in proc.query({})["drift"]} == {1100}
    proc.shutdown()


def test_restart_mid_window_loses_nothing(tmp_path):
    """Checkpoint at shutdown, restart on the same state dir: same scores as an uninterrupted run."""
    fed = []
    feed = Feed(6)
    for n, shift in ((1500, 0.0), (1800, 0.7), (1200, 0.7)):
        for _ in range(0, n, 300):
            fed.append(feed.batch(300, shift))

    def scores(env):
        return {
            (p.attributes["ml.feature.name"], p.attributes["ml.drift.method"]): p.value
            for p in env.points("ml.feature.drift")
        }

    ref_env = Env(StateStore(":memory:"))
    ref = make(ref_env, baseline={"warmup": 1500}, window={"size": 3000})
    for b in fed:
        ref.process(request_of(b))
    ref.flush()
    expected = scores(ref_env)
    assert expected

    env1 = Env(StateStore(tmp_path))
    p1 = make(env1, baseline={"warmup": 1500}, window={"size": 3000})
    for b in fed[:11]:  # warm-up (5 batches) + 1800 rows of the window
        p1.process(request_of(b))
    p1.shutdown()
    env1.ctx.state.close()
    assert env1.points("ml.feature.drift") == []

    env2 = Env(StateStore(tmp_path))
    p2 = make(env2, baseline={"warmup": 1500}, window={"size": 3000})
    assert p2.query({})["models"][0]["open_window"]["count"] == 1800
    for b in fed[11:]:
        p2.process(request_of(b))
    p2.flush()
    got = scores(env2)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k
    p2.shutdown()


def test_warmup_survives_restart(tmp_path):
    feed = Feed(7)
    env1 = Env(StateStore(tmp_path))
    p1 = make(env1, baseline={"warmup": 1000})
    p1.process(request_of(feed.batch(600)))
    p1.shutdown()
    env1.ctx.state.close()
    env2 = Env(StateStore(tmp_path))
    p2 = make(env2, baseline={"warmup": 1000})
    assert p2.query({})["models"][0]["warmup"] == {"count": 600, "target": 1000}
    p2.process(request_of(feed.batch(600)))
    status = p2.query({})["models"][0]
    assert status["baseline"] == "warmup" and status["open_window"]["count"] == 200
    p2.shutdown()


def test_baseline_file(tmp_path, env):
    from otelml import stats

    rng = np.random.default_rng(8)
    data = {f"f{i}": rng.normal(0, 1, 5000) for i in range(N_FEATURES)}
    data["plan"] = rng.choice(np.array(["a", "b", "c"], dtype=object), 5000, p=[0.5, 0.3, 0.2])
    path = tmp_path / "baseline.json"
    stats.build_baseline(data, model="m", version="1").save(path)
    proc = make(env, baseline={"path": str(path)}, window={"size": 2000})
    feed = Feed(9)
    drive(proc, feed, 2000, shift=1.0)
    proc.flush()
    rows = proc.query({})["drift"]
    assert {r["feature"] for r in rows if r["drifted"]} == {SHIFTED}
    assert proc.query({})["models"][0]["baseline"] == str(path)
    proc.shutdown()


def test_without_views_one_exemplar_per_point():
    env = Env(StateStore(":memory:"), views=False)
    proc = make(env, baseline={"warmup": 1000}, window={"size": 1000})
    feed = Feed(10)
    drive(proc, feed, 1000)
    drive(proc, feed, 1000, shift=2.0)
    proc.flush()
    pts = [p for p in env.points("ml.feature.drift") if p.attributes["ml.feature.name"] == SHIFTED]
    assert pts and all(len(p.exemplars) == 1 for p in pts)
    assert all(
        set(p.attributes) == {"ml.model.name", "ml.model.version", "ml.feature.name", "ml.drift.method"}
        for p in pts
    )
    proc.shutdown()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"window": {"size": 0}}, "window.size must be a positive integer, got 0"),
        ({"window": {"sise": 10}}, "window.sise: unknown key"),
        ({"colour": 1}, "colour: unknown key"),
        ({"methods": ["psi", "kl"]}, "methods: unknown method 'kl'"),
        ({"thresholds": {"psi": -1}}, "thresholds.psi must be a positive number"),
        (
            {"baseline": {"path": "/nonexistent/b.json"}},
            "baseline.path: /nonexistent/b.json: baseline file not found",
        ),
        ({"window": {"size": 100, "min_samples": 200}}, "window.min_samples (200) exceeds window.size (100)"),
        ({"exemplars": {"per_point": 99}}, "exemplars.per_point must be at most 16"),
    ],
)
def test_config_errors_name_the_key(raw, message):
    with pytest.raises(ValueError) as err:
        DriftFactory().config_from_dict(raw)
    assert message in str(err.value)


def test_bad_batch_never_raises(env):
    proc = make(env, baseline={"warmup": 10})
    feed = Feed(11)
    good = feed.batch(20)
    bad = feed.batch(5)
    bad.numeric["f0"] = np.array(["x", None, "y", 1, 2], dtype=object)  # wrong type in a numeric column
    bad.numeric["f1"] = np.full(5, np.inf)
    req = request_of(good, bad)
    assert proc.process(req) is req
    assert proc.query({})["models"][0]["open_window"]["count"] == 15
    proc.shutdown()


def test_model_without_any_column_is_harmless(env):
    proc = make(env, baseline={"warmup": 5}, window={"size": 5})
    feed = Feed(12)
    b = feed.batch(12)
    b.numeric, b.categorical, b.prediction_score = {}, {}, None
    assert proc.process(request_of(b)).records == [b]
    proc.flush()
    status = proc.query({})["models"][0]
    assert status["baseline"] == "warmup" and proc.query({})["drift"] == []
    proc.shutdown()


def test_methods_and_thresholds_overrides(env):
    proc = make(
        env,
        baseline={"warmup": 2000},
        window={"size": 3000},
        methods=["psi", "chi2"],
        thresholds={"psi": 0.05},
    )
    feed = Feed(13)
    drive(proc, feed, 2000)
    drive(proc, feed, 3000, shift=0.3)  # a small shift: PSI ~0.09, below the default 0.2
    proc.flush()
    rows = proc.query({})["drift"]
    kinds = {(r["feature"] == "plan", r["method"]) for r in rows}
    assert kinds == {(False, "psi"), (True, "psi"), (True, "chi2")}  # psi also applies to categories
    psi = next(r for r in rows if r["feature"] == SHIFTED)
    assert psi["threshold"] == 0.05
    assert 0.05 <= psi["score"] < 0.2 and psi["drifted"]  # psi alerts: no default alerting method listed
    assert {r["feature"] for r in rows if r["drifted"]} == {SHIFTED}
    proc.shutdown()
