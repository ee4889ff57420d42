"""`drift.segments` on hand-built ModelBatches: per-segment warm-up baselines and windows, the
`max_segment_values` bound, restart safety, and points/alerts carrying `ml.segment.<key>`.

Scores are compared with scipy on the raw rows of each segment.
"""

from __future__ import annotations

import numpy as np
import pytest
from otelml_collector.processors.drift import DriftFactory
from otelml_collector.records import ModelBatch
from otelml_collector.state import StateStore
from scipy import stats as sps

from tests.collector.test_drift_processor import Env, request_of


class SegmentFeed:
    """Batches whose rows carry `ml.segment.plan`."""

    def __init__(self, seed: int = 5) -> None:
        self.rng = np.random.default_rng(seed)
        self.t = 1_700_000_000_000_000_000

    def batch(self, n: int, plans: list[str], shift: dict[str, float]) -> ModelBatch:
        plan = np.array(plans * (n // len(plans)), dtype=object)  # the same number of rows per value
        self.rng.shuffle(plan)
        f0 = self.rng.normal(0.0, 1.0, n)
        for name, delta in shift.items():
            f0[plan == name] += delta
        times = self.t + np.arange(n, dtype=np.int64)
        self.t += n
        return ModelBatch(
            model="m",
            version="1",
            trace_id=self.rng.integers(0, 256, (n, 16), dtype=np.uint8),
            span_id=self.rng.integers(0, 256, (n, 8), dtype=np.uint8),
            time_unix_nano=times,
            prediction_id=[None] * n,
            numeric={"f0": f0, "f1": self.rng.normal(0.0, 1.0, n)},
            segments={"plan": plan},
        )


def make(env: Env, **raw):
    factory = DriftFactory()
    proc = factory.create(factory.config_from_dict(raw), env.ctx)
    proc.start()
    return proc


def rows_by_segment(proc) -> dict[str, dict[tuple[str, str], dict]]:
    out: dict[str, dict[tuple[str, str], dict]] = {}
    for r in proc.query({})["drift"]:
        out.setdefault(r["segment"].get("plan", ""), {})[(r["feature"], r["method"])] = r
    return out


def test_each_segment_learns_its_own_baseline_and_only_the_shifted_one_drifts():
    env = Env(StateStore(":memory:"), views=False)  # no view: points keep every attribute
    proc = make(env, baseline={"warmup": 3000}, window={"size": 3000, "seconds": 0}, segments=["plan"])
    feed = SegmentFeed()
    # warm-up, 3,000 rows per plan: the plans differ from the start (pro sits 2 SD higher), which one
    # pooled baseline would flag
    warm = [feed.batch(600, ["basic", "pro"], {"pro": 2.0}) for _ in range(10)]
    # then one window per plan, where only basic shifts f0 by one SD
    live = [feed.batch(600, ["basic", "pro"], {"pro": 2.0, "basic": 1.0}) for _ in range(10)]
    for batch in warm + live:
        proc.process(request_of(batch))
    proc.flush()
    rows = rows_by_segment(proc)
    assert {"basic", "pro"} <= set(rows)
    assert rows["basic"][("f0", "wasserstein")]["drifted"]
    assert not any(r["drifted"] for r in rows["pro"].values())
    assert not rows["basic"][("f1", "wasserstein")]["drifted"]
    for name in ("basic", "pro"):
        for feature in ("f0", "f1"):
            r = rows[name][(feature, "wasserstein")]
            assert r["window"]["count"] == 3000
            ref, cur = (
                np.concatenate([b.numeric[feature][b.segments["plan"] == name] for b in batches])
                for batches in (warm, live)
            )
            expected = sps.wasserstein_distance(ref, cur) / np.std(ref, ddof=1)
            assert r["score"] == pytest.approx(expected, abs=0.005), (name, feature)
            ks = sps.ks_2samp(ref, cur).statistic
            assert rows[name][(feature, "ks")]["score"] == pytest.approx(ks, abs=0.02)

    # points and the alert carry the segment
    seg_points = [p for p in env.points("ml.feature.drift") if "ml.segment.plan" in p.attributes]
    assert {p.attributes["ml.segment.plan"] for p in seg_points} <= {"basic", "pro"}
    alerts = [r.log_record for r in env.logs.get_finished_logs() if r.log_record.severity_number.value >= 13]
    seg_alerts = [a for a in alerts if "ml.segment.plan" in a.attributes]
    assert {(a.attributes["ml.segment.plan"], a.attributes["ml.feature.name"]) for a in seg_alerts} == {
        ("basic", "f0")
    }
    assert "segment plan=basic" in seg_alerts[0].body
    proc.shutdown()


def test_values_beyond_the_bound_share_other_and_survive_a_restart():
    state = StateStore(":memory:")
    env = Env(state, views=False)
    cfg = {"baseline": {"warmup": 1000}, "window": {"size": 1000, "seconds": 0}, "segments": ["plan"],
           "max_segment_values": 2}
    proc = make(env, **cfg)
    feed = SegmentFeed(7)
    for _ in range(4):
        proc.process(request_of(feed.batch(500, ["a", "b", "c", "d"], {})))
    proc.checkpoint()
    values = {m["segment"].get("plan") for m in proc.query({})["models"]}
    # the model version itself, the two values seen first under their names, every other as __other__
    assert len(values) == 4 and None in values and "__other__" in values
    assert values - {None, "__other__"} < {"a", "b", "c", "d"}
    before = {tuple(m["segment"].items()): m["warmup"] for m in proc.query({})["models"]}
    proc.shutdown()

    again = make(Env(state, views=False), **cfg)
    after = {tuple(m["segment"].items()): m["warmup"] for m in again.query({})["models"]}
    assert after == before
    again.shutdown()


def test_config_names_bad_segments_key():
    with pytest.raises(ValueError, match="segments must be a list of segment keys"):
        DriftFactory().config_from_dict({"segments": [1]})
    with pytest.raises(ValueError, match="max_segment_values must be a positive integer"):
        DriftFactory().config_from_dict({"segments": ["plan"], "max_segment_values": 0})
