"""The `quality` processor on hand-built ModelBatches with the OTel SDK's own in-memory readers: violation
counts equal the rows really fed, exemplars are violating predictions' trace ids, one WARN log per burst,
window checks (mean, row_count) per window, config errors name file, line and key."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader
from otelml_collector.component import ComponentContext
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.quality import QualityFactory
from otelml_collector.records import ModelBatch
from otelml_collector.state import StateStore

EXPECTATIONS = """\
table:
  row_count: {min: 50}
columns:
  age:
    not_null: true
    between: {min: 18, max: 100}
    mean: {min: 30, max: 50}
  country:
    in_set: [US, DE]
"""


class CapturingReader(MetricReader):
    """Keeps every collection: the processor flushes (collects) when a window closes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list = []

    def _receive_metrics(self, metrics_data, timeout_millis: float = 10_000, **kwargs) -> None:
        if metrics_data is not None:
            self.batches.append(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


class Point:
    def __init__(self, attributes, value, exemplars) -> None:
        self.attributes, self.value, self.exemplars = attributes, value, exemplars


class Env:
    def __init__(self, tmp_path: Path, **config) -> None:
        (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
        factory = QualityFactory()
        self.reader = CapturingReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], views=factory.metric_views(),
                                            exemplar_filter=TraceBasedExemplarFilter())
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        ctx = ComponentContext(name="quality", state=StateStore(":memory:"),
                               meter_provider=self.meter_provider, logger_provider=self.logger_provider,
                               log=logging.getLogger("test.quality"))
        cfg = factory.config_from_dict({"expectations": str(tmp_path / "expectations.yaml"), **config})
        self.proc = factory.create(cfg, ctx)
        self.proc.start()
        self.rng = np.random.default_rng(3)

    def batch(self, age, country, model: str = "credit") -> ModelBatch:
        n = len(age)
        return ModelBatch(
            model=model, version="2",
            trace_id=self.rng.integers(0, 256, (n, 16), dtype=np.uint8),
            span_id=self.rng.integers(0, 256, (n, 8), dtype=np.uint8),
            time_unix_nano=np.full(n, time.time_ns(), dtype=np.int64),
            prediction_id=[f"p{i}" for i in range(n)],
            numeric={"age": np.asarray(age, dtype=np.float64)},
            categorical={"country": np.asarray(country, dtype=object)},
        )

    def feed(self, batch: ModelBatch) -> None:
        request = TelemetryRequest(Signal.TRACES, raw=b"", records=[batch])
        assert self.proc.process(request) is request

    def all_points(self) -> list:
        self.reader.collect()
        return [p for data in self.reader.batches for rm in data.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == "ml.data_quality.violations" for p in m.data.data_points]

    def points(self) -> dict[tuple[str, str], Point]:
        """Latest cumulative value per series, with the exemplars of every collection so far."""
        out: dict[tuple[str, str], Point] = {}
        for p in self.all_points():
            a = dict(p.attributes)
            assert a["ml.model.name"] == "credit" and a["ml.model.version"] == "2"
            key = (a["ml.feature.name"], a["ml.data_quality.expectation"])
            earlier = out[key].exemplars if key in out else []
            out[key] = Point(a, p.value, [*earlier, *p.exemplars])
        return out

    def warn_logs(self) -> list:
        return [r.log_record for r in self.logs.get_finished_logs()]


def _ages(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(40, 5, n).clip(20, 90)


def test_row_violations_are_counted_with_exemplars_of_the_violating_predictions(tmp_path):
    env = Env(tmp_path, window={"size": 10_000, "seconds": 0}, exemplars=3)
    age = _ages(100, env.rng)
    bad_age = [3, 10, 50, 77]
    age[bad_age] = [150, 7, 130, np.nan]
    country = np.array(["US", "DE"] * 50, dtype=object)
    country[[5, 6]] = ["XX", None]
    first = env.batch(age, country)
    env.feed(first)

    points = env.points()
    assert set(points) == {("age", "between"), ("age", "not_null"), ("country", "in_set")}
    assert points[("age", "between")].value == 3
    assert points[("age", "not_null")].value == 1
    assert points[("country", "in_set")].value == 1  # None is missing, not "unexpected"
    ex_traces = {e.trace_id for e in points[("age", "between")].exemplars}
    assert ex_traces == {int.from_bytes(first.trace_id[i].tobytes(), "big") for i in (3, 10, 50)}
    assert {e.span_id for e in points[("age", "between")].exemplars} == {
        int.from_bytes(first.span_id[i].tobytes(), "big") for i in (3, 10, 50)}

    logs = env.warn_logs()
    assert len(logs) == 3 and all(r.severity_text == "WARN" for r in logs)
    by = {(r.attributes["ml.feature.name"], r.attributes["ml.data_quality.expectation"]): r for r in logs}
    between = by[("age", "between")]
    assert between.trace_id == int.from_bytes(first.trace_id[3].tobytes(), "big")
    assert between.attributes["ml.data_quality.violations"] == 3
    assert "age: between violated (3 violations; e.g. value 150.0)" in between.body
    assert by[("country", "in_set")].trace_id == int.from_bytes(first.trace_id[5].tobytes(), "big")

    # Same burst: counts go on, no new log within alert_interval.
    age2 = _ages(50, env.rng)
    age2[[0, 1]] = 500
    env.feed(env.batch(age2, np.array(["US"] * 50, dtype=object)))
    assert env.points()[("age", "between")].value == 5
    assert len(env.warn_logs()) == 3
    env.proc.shutdown()


def test_a_new_burst_after_alert_interval_logs_again_with_the_count_since(tmp_path):
    env = Env(tmp_path, window={"size": 10_000, "seconds": 0}, alert_interval="200ms")
    ok = np.array(["US"] * 20, dtype=object)
    for _ in range(3):
        age = _ages(20, env.rng)
        age[4] = 1000
        env.feed(env.batch(age, ok))
    assert len(env.warn_logs()) == 1
    time.sleep(0.25)
    age = _ages(20, env.rng)
    age[9] = 1000
    last = env.batch(age, ok)
    env.feed(last)
    logs = env.warn_logs()
    assert len(logs) == 2
    assert logs[1].attributes["ml.data_quality.violations"] == 3  # two suppressed + this one
    assert logs[1].trace_id == int.from_bytes(last.trace_id[9].tobytes(), "big")
    env.proc.shutdown()


def test_mostly_counts_values_but_alerts_only_when_the_check_fails(tmp_path):
    (tmp_path / "mostly.yaml").write_text("columns:\n  age:\n    between: {min: 18, max: 100, mostly: 0.9}\n")
    env = Env(tmp_path, window={"size": 10_000, "seconds": 0})
    env.proc = QualityFactory().create(QualityFactory().config_from_dict(
        {"expectations": str(tmp_path / "mostly.yaml"), "window": {"seconds": 0}}), env.proc._ctx)
    age = _ages(100, env.rng)
    age[:5] = 999
    env.feed(env.batch(age, np.array(["US"] * 100, dtype=object)))
    assert env.points()[("age", "between")].value == 5
    assert env.warn_logs() == []
    age[:20] = 999
    env.feed(env.batch(age, np.array(["US"] * 100, dtype=object)))
    assert env.points()[("age", "between")].value == 25
    assert len(env.warn_logs()) == 1


def test_window_checks_run_when_the_window_closes(tmp_path):
    env = Env(tmp_path, window={"size": 200, "seconds": 0})
    shifted = env.rng.normal(70, 5, 120)
    env.feed(env.batch(shifted, np.array(["US"] * 120, dtype=object)))
    assert ("age", "mean") not in env.points()  # window still open
    second = env.batch(env.rng.normal(70, 5, 120), np.array(["US"] * 120, dtype=object))
    env.feed(second)
    assert env.proc.windows_closed == 1
    mean = env.points()[("age", "mean")]
    assert mean.value == 1
    [ex] = mean.exemplars
    assert ex.trace_id == int.from_bytes(second.trace_id[79].tobytes(), "big")  # newest row kept (200th)
    [log] = [r for r in env.warn_logs() if r.attributes["ml.data_quality.expectation"] == "mean"]
    kept = np.concatenate([shifted, second.numeric["age"][:80]])
    assert float(log.attributes["ml.data_quality.observed"]) == pytest.approx(kept.mean())
    env.proc.shutdown()


def test_row_count_per_time_window_notices_low_traffic(tmp_path):
    env = Env(tmp_path, window={"size": 10_000, "seconds": "300ms"})
    env.feed(env.batch(_ages(10, env.rng), np.array(["DE"] * 10, dtype=object)))
    deadline = time.monotonic() + 5
    while env.proc.windows_closed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.proc.windows_closed >= 1
    [log] = [r for r in env.warn_logs() if r.attributes["ml.data_quality.expectation"] == "row_count"]
    assert log.attributes["ml.data_quality.observed"] == "10"
    # No traffic at all: the next window closes empty and counts again (one log per alert_interval).
    while env.proc.windows_closed < 2 and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    env.proc.shutdown()
    env.proc.shutdown()  # idempotent
    assert env.points()[("", "row_count")].value >= 2
    assert [r.attributes["ml.data_quality.expectation"] for r in env.warn_logs()] == ["row_count"]


def test_bad_records_never_break_the_pipeline(tmp_path, caplog):
    env = Env(tmp_path, window={"size": 10_000, "seconds": 0})
    batch = env.batch(_ages(5, env.rng), np.array(["US"] * 5, dtype=object))
    batch.numeric.pop("age")
    batch.categorical["age"] = np.array(["old", "young", None, "x", "y"], dtype=object)
    env.feed(batch)  # `between` on strings fails as a check, not as an exception
    points = env.points()
    assert points[("age", "between")].value == 1
    assert "is not numeric" in next(r.body for r in env.warn_logs()
                                    if r.attributes["ml.data_quality.expectation"] == "between")
    request = TelemetryRequest(Signal.TRACES, raw=b"", records=[object()])  # type: ignore[list-item]
    with caplog.at_level(logging.WARNING):
        assert env.proc.process(request) is request
    assert "quality: processing a request failed" in caplog.text


@pytest.mark.parametrize(("files", "raw", "message"), [
    ({"e.yaml": "columns:\n  age:\n    between: {min: x}\n"}, {"expectations": "e.yaml"},
     "expectations: e.yaml:3: columns.age.between.min: expected a number, got 'x'"),
    ({}, {"expectations": "missing.yaml"}, "expectations: missing.yaml: file not found"),
    ({"e.yaml": "columns:\n  age:\n    drift: {}\n"}, {"expectations": "e.yaml"},
     "baseline: e.yaml:3: age: drift needs a baseline file"),
    ({"s.json": '{"expectations": [{"type": "expect_column_values_to_be_json_parseable", '
                '"kwargs": {"column": "a"}}]}'},
     {"expectations": "s.json"}, "'expect_column_values_to_be_json_parseable' is not supported"),
    ({"e.yaml": "columns: {}\n"}, {"expectations": "e.yaml", "window": {"size": 0}},
     "window.size must be a positive"),
    ({"e.yaml": "columns: {}\n"}, {"expectations": "e.yaml", "windows": {}}, "windows: unknown key"),
    ({"e.yaml": "columns: {}\n"}, {"models": {"credit": {"baseline": "b.json"}}},
     "models.credit.expectations: missing, and no default `expectations` is set"),
])
def test_config_errors_name_the_key_and_the_file(tmp_path, monkeypatch, files, raw, message):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ValueError) as err:
        QualityFactory().config_from_dict(raw)
    assert message in str(err.value)


def test_per_model_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default.yaml").write_text("columns:\n  age: {between: {max: 10}}\n")
    (tmp_path / "credit.yaml").write_text("columns:\n  age: {between: {max: 1000}}\n")
    cfg = QualityFactory().config_from_dict({"expectations": "default.yaml",
                                             "models": {"credit": {"expectations": "credit.yaml"}}})
    env = Env(tmp_path, window={"seconds": 0})
    env.proc = QualityFactory().create(cfg, env.proc._ctx)
    env.feed(env.batch(_ages(10, env.rng), np.array(["US"] * 10, dtype=object), model="credit"))
    assert env.points() == {}
    env.feed(env.batch(_ages(10, env.rng), np.array(["US"] * 10, dtype=object), model="fraud"))
    [point] = env.all_points()
    assert dict(point.attributes)["ml.model.name"] == "fraud" and point.value == 10


def test_freshness_of_span_time_per_window(tmp_path):
    (tmp_path / "fresh.yaml").write_text("columns:\n  span.time:\n    freshness: 1h\n")
    env = Env(tmp_path, window={"seconds": 0})
    env.proc = QualityFactory().create(QualityFactory().config_from_dict(
        {"expectations": str(tmp_path / "fresh.yaml"), "window": {"size": 10, "seconds": 0}}), env.proc._ctx)
    fresh = env.batch(_ages(10, env.rng), np.array(["US"] * 10, dtype=object))
    env.feed(fresh)
    assert env.proc.windows_closed == 1 and env.points() == {}
    stale = env.batch(_ages(10, env.rng), np.array(["US"] * 10, dtype=object))
    stale.time_unix_nano[:] = time.time_ns() - 2 * 3600 * 10**9
    env.feed(stale)
    assert env.proc.windows_closed == 2
    assert env.points()[("span.time", "freshness")].value == 1
    [log] = env.warn_logs()
    assert 7190 < json.loads(log.attributes["ml.data_quality.observed"])["age_seconds"] < 7300


def test_sidecar_config_loader_names_the_component_key_and_the_expectations_line(tmp_path, monkeypatch):
    from otelml_collector.config import ConfigError, load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.yaml").write_text("columns:\n  age:\n    in_set: []\n")
    (tmp_path / "sidecar.yaml").write_text(
        "receivers: {otlp: {protocols: {http: {endpoint: '127.0.0.1:0'}}}}\n"
        "processors: {ml_extract: {}, quality: {expectations: e.yaml}}\n"
        "exporters: {otlp: {endpoint: 'http://127.0.0.1:1'}}\n"
        "service: {pipelines: {traces: {receivers: [otlp], processors: [ml_extract, quality],"
        " exporters: [otlp]}}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "sidecar.yaml")
    prefix = f"{tmp_path / 'sidecar.yaml'}: processors.quality.expectations: e.yaml:3:"
    assert str(err.value).startswith(prefix)
    assert "expectations: e.yaml:3: columns.age.in_set.values: expected a non-empty list" in str(err.value)


def test_drift_against_a_baseline_per_window(tmp_path):
    import pandas as pd

    from otelml.stats import build_baseline

    rng = np.random.default_rng(9)
    build_baseline(pd.DataFrame({"age": rng.normal(40, 5, 5000)}), model="credit").save(tmp_path / "b.json")
    (tmp_path / "d.yaml").write_text("columns:\n  age:\n    drift: {method: wasserstein, threshold: 0.1}\n")
    env = Env(tmp_path, window={"seconds": 0})
    env.proc = QualityFactory().create(QualityFactory().config_from_dict(
        {"expectations": str(tmp_path / "d.yaml"), "baseline": str(tmp_path / "b.json"),
         "window": {"size": 1000, "seconds": 0}}), env.proc._ctx)
    same = env.batch(rng.normal(40, 5, 1000), np.array(["US"] * 1000, dtype=object))
    env.feed(same)
    assert env.proc.windows_closed == 1 and env.points() == {}
    ages = rng.normal(40, 5, 1000)
    ages[500:] += 10  # half the window shifted by two standard deviations
    shifted = env.batch(ages, np.array(["US"] * 1000, dtype=object))
    env.feed(shifted)
    point = env.points()[("age", "drift")]
    assert point.value == 1
    [ex] = point.exemplars
    row = [i for i in range(1000) if int.from_bytes(shifted.trace_id[i].tobytes(), "big") == ex.trace_id]
    assert row and shifted.numeric["age"][row[0]] > 50  # an exemplar from the bins that gained mass
    [log] = env.warn_logs()
    observed = json.loads(log.attributes["ml.data_quality.observed"])
    assert observed["method"] == "wasserstein" and observed["value"] > 0.1 and observed["n"] == 1000


@pytest.mark.parametrize("how", ["shutdown", "crash"])
def test_open_windows_survive_a_restart(tmp_path, how):
    """Rows of a half-filled window are checkpointed (at shutdown, or every checkpoint_seconds before
    a crash) and restored: the window closes after the restart with the rows of both runs."""
    env = Env(tmp_path, window={"size": 200, "seconds": 0}, checkpoint_seconds="100ms")
    before = env.rng.normal(70, 5, 120)
    env.feed(env.batch(before, np.array(["US"] * 120, dtype=object)))
    if how == "shutdown":
        env.proc.shutdown()
    else:  # nothing flushed by a shutdown: the periodic checkpoint must have written the window
        deadline = time.monotonic() + 5
        while not env.proc._ctx.state.items("quality.window") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert env.proc.windows_closed == 0
    factory = QualityFactory()
    cfg = factory.config_from_dict({"expectations": str(tmp_path / "expectations.yaml"),
                                    "window": {"size": 200, "seconds": 0}})
    first, env.proc = env.proc, factory.create(cfg, env.proc._ctx)
    env.proc.start()
    after = env.batch(env.rng.normal(70, 5, 120), np.array(["US"] * 120, dtype=object))
    env.feed(after)
    assert env.proc.windows_closed == 1
    [log] = [r for r in env.warn_logs() if r.attributes["ml.data_quality.expectation"] == "mean"]
    kept = np.concatenate([before, after.numeric["age"][:80]])
    assert float(log.attributes["ml.data_quality.observed"]) == pytest.approx(kept.mean())
    env.proc.shutdown()
    first.shutdown()
