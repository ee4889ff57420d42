"""The `slo` processor on its own: burn rates, budgets and pages against an independent simulation of
the SRE workbook's rule, performance windows read through the event bus (re-scored windows counted
once, accuracy from sklearn), freshness, restart, and config errors that name the key."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otelml_collector import registry
from otelml_collector.bus import EventBus
from otelml_collector.component import ComponentContext
from otelml_collector.config import ConfigError, parse_config
from otelml_collector.processors.slo import SloProcessor
from otelml_collector.processors.slo.config import config_from_dict
from otelml_collector.state import StateStore
from sklearn.metrics import accuracy_score

from tests.collector.performance.test_performance import predictions, spans_of
from tests.collector.predictions.spans import T0, label, request, span

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
except ImportError:  # older SDKs
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter


def request_of(message: Any) -> Any:
    """A request holding `message`'s bytes (as received: the processors see the failed statuses)."""
    from otelml_collector.pipeline import Signal, TelemetryRequest

    return TelemetryRequest(Signal.TRACES, message.SerializeToString(), items=1)


class Env:
    """An slo processor on a settable clock, with in-memory metric and log readers and a shared bus."""

    def __init__(
        self,
        state: StateStore | None = None,
        bus: EventBus | None = None,
        extract: bool = False,
        **config: Any,
    ) -> None:
        self.now = 1_000_000.0
        self.reader = InMemoryMetricReader()
        self.logs = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.state = state or StateStore(":memory:")
        self.ctx = ComponentContext(
            "slo",
            self.state,
            MeterProvider(metric_readers=[self.reader]),
            logger_provider,
            log=logging.getLogger("test.slo"),
            bus=bus or EventBus(),
        )
        config.setdefault("evaluate_interval", 0)
        self.proc = SloProcessor(config_from_dict(config), self.ctx, clock=lambda: self.now)
        self.proc.start()
        factory = registry.get("processor", "ml_extract")
        self.extract = (
            factory.create(
                factory.default_config(), ComponentContext("x", self.state, MeterProvider(), LoggerProvider())
            )
            if extract
            else None
        )

    def process(self, req: Any) -> None:
        self.proc.process(self.extract.process(req) if self.extract is not None else req)

    def inference(self, durations: list[float], failed: int = 0, model: str = "credit") -> None:
        spans = []
        for i, seconds in enumerate(durations):
            s = span(
                os.urandom(16),
                f"inference {model}",
                {"ml.operation.name": "inference", "ml.model.name": model, "ml.prediction.id": f"p{i}"},
            )
            s["end_time_unix_nano"] = s["start_time_unix_nano"] + int(seconds * 1e9)
            spans.append(s)
        req = request("svc", spans)
        for s in req.message.resource_spans[0].scope_spans[0].spans[:failed]:
            s.status.code = 2
        if failed:
            req = request_of(req.message)
        self.process(req)

    def objective(self, name: str) -> dict[str, Any]:
        (found,) = [o for o in self.proc.query({})[1]["objectives"] if o["name"] == name]
        return found

    def alerts(self) -> list[Any]:
        return [
            r.log_record for r in self.logs.get_finished_logs() if r.log_record.event_name == "ml.slo.alert"
        ]

    def gauges(self, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
        out = {}
        for rm in self.reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        for p in m.data.data_points:
                            out[tuple(sorted(p.attributes.items()))] = p.value
        return out


def window_rate(events: list[tuple[int, bool]], now: int, seconds: float) -> tuple[float, int]:
    """Burn rate (target 0.95) and event count over (now - seconds, now], from the raw events."""
    inside = [bad for t, bad in events if now - seconds < t <= now]
    return (sum(inside) / len(inside) / 0.05 if inside else 0.0), len(inside)


LATENCY = {"name": "lat", "model": "credit", "indicator": "latency", "threshold": "100ms", "target": 0.95}


def test_burn_rates_budget_and_pages_equal_an_independent_simulation_of_the_workbook_rule() -> None:
    windows = [
        {"long": "200s", "short": "20s", "burn_rate": 3.0},
        {"long": "100s", "short": "10s", "burn_rate": 6.0},
    ]
    env = Env(objectives=[LATENCY], alert_windows=windows, period="1000s", min_events=10)
    rng = np.random.default_rng(3)
    incidents = {range(200, 260): 0.5, range(400, 430): 0.6}
    events: list[tuple[int, bool]] = []  # (second, bad)
    firing_before, expected_pages = False, 0
    for second in range(600):
        env.now = 1_000_000.0 + second
        p_bad = next((p for r, p in incidents.items() if second in r), 0.01)
        bad = rng.random(5) < p_bad
        env.inference([0.5 if b else 0.01 for b in bad])
        events += [(second, bool(b)) for b in bad]

        firing = any(
            window_rate(events, second, w_long)[0] > b
            and window_rate(events, second, w_short)[0] > b
            and window_rate(events, second, w_short)[1] >= 10
            for w_long, w_short, b in ((200, 20, 3.0), (100, 10, 6.0))
        )
        expected_pages += firing and not firing_before
        firing_before = firing
        if second in (230, 420, 599):  # figures while burning and after
            got = env.objective("lat")
            for w, (w_long, w_short, _) in zip(got["windows"], ((200, 20, 3.0), (100, 10, 6.0)), strict=True):
                assert w["long"]["burn_rate"] == pytest.approx(window_rate(events, second, w_long)[0])
                assert w["short"]["burn_rate"] == pytest.approx(window_rate(events, second, w_short)[0])
                assert w["long"]["total"] == window_rate(events, second, w_long)[1]
            bad_total = sum(b for _, b in events)
            assert got["error_budget_remaining"] == pytest.approx(1 - bad_total / (len(events) * 0.05))
    assert expected_pages == 2  # one per incident
    alerts = env.alerts()
    assert len(alerts) == expected_pages
    assert all(a.attributes["ml.slo.name"] == "lat" and a.trace_id for a in alerts)
    assert (
        alerts[0].attributes["ml.slo.indicator"] == "latency" and alerts[0].attributes["ml.slo.value"] == 0.5
    )
    # the metrics a user graphs
    burn = env.gauges("ml.slo.burn_rate")
    assert set(dict(k)["ml.slo.window"] for k in burn) == {"200s", "20s", "100s", "10s"}
    budget = env.gauges("ml.slo.error_budget.remaining")
    assert budget == {
        (("ml.model.name", "credit"), ("ml.slo.name", "lat")): pytest.approx(
            env.objective("lat")["error_budget_remaining"]
        )
    }


@pytest.mark.parametrize("extract", [True, False], ids=["from-ml_extract-records", "attribute-walk"])
def test_errors_objective_counts_failed_spans_and_other_models_not_at_all(extract: bool) -> None:
    env = Env(
        objectives=[{"name": "err", "model": "credit", "indicator": "errors", "target": 0.99}],
        extract=extract,
    )
    env.inference([0.01] * 50, failed=2)
    env.inference([0.01] * 30, failed=30, model="other")
    got = env.objective("err")
    assert got["period"] == {"good": 48, "total": 50}
    assert got["error_budget_remaining"] == pytest.approx(1 - 2 / (50 * 0.01))


def test_performance_windows_arrive_through_the_bus_and_rescoring_counts_once() -> None:
    bus = EventBus()
    state = StateStore(":memory:")
    perf = registry.get("processor", "performance")
    ctx = ComponentContext("performance", state, MeterProvider(), LoggerProvider(), bus=bus)
    performance = perf.create(
        perf.config_from_dict({"window": {"size": 100}, "baseline": {"warmup": 0}, "evaluate_interval": 0}),
        ctx,
    )
    extract = registry.get("processor", "ml_extract")
    extractor = extract.create(
        extract.default_config(), ComponentContext("x", state, MeterProvider(), LoggerProvider())
    )
    objective = {
        "name": "acc",
        "model": "credit",
        "indicator": "performance",
        "metric": "accuracy",
        "threshold": 0.7,
        "target": 0.5,
    }
    env = Env(state=state, bus=bus, objectives=[objective], min_events=1)
    rng = np.random.default_rng(11)
    rows = []
    for flip in (0.0, 0.0, 0.5, 0.0, 0.5):
        rows += predictions(rng, 100, flip=flip)
    performance.start()
    for start in range(0, 500, 100):
        performance.process(extractor.process(request("svc", spans_of(rows[start : start + 100]))))
    for part in (slice(0, 60), slice(60, 100)):  # 60 % of each window labelled, then the rest: re-scored
        labels = [label(r[0], r[4]) for w in range(5) for r in rows[w * 100 : (w + 1) * 100][part]]
        performance.process(extractor.process(request("svc", labels)))
    accuracy = [
        accuracy_score([r[4] for r in rows[i : i + 100]], [r[3] for r in rows[i : i + 100]])
        for i in range(0, 500, 100)
    ]
    good = sum(a >= 0.7 for a in accuracy)
    got = env.objective("acc")
    assert got["period"] == {"good": good, "total": 5}
    assert got["error_budget_remaining"] == pytest.approx(1 - (5 - good) / (5 * 0.5))
    assert got["last_bad_event"]["value"] == pytest.approx(min(accuracy))


@pytest.mark.parametrize("extract", [True, False], ids=["from-ml_extract-records", "attribute-walk"])
def test_freshness_counts_lookups_of_the_view_in_the_models_traces(extract: bool) -> None:
    env = Env(
        extract=extract,
        objectives=[
            {
                "name": "fresh",
                "model": "credit",
                "indicator": "freshness",
                "threshold": "10m",
                "target": 0.9,
                "feature_view": "tx",
            }
        ],
    )
    spans = []
    for i, (view, age, model) in enumerate(
        [
            ("tx", 30.0, "credit"),
            ("tx", 900.0, "credit"),
            ("tx", 5.0, "other"),
            ("users", 9000.0, "credit"),
            ("tx", 2.0, None),
        ]
    ):
        trace = os.urandom(16)
        spans.append(
            span(
                trace,
                f"feature_lookup {view}",
                {
                    "ml.operation.name": "feature_lookup",
                    "ml.feature_view.name": view,
                    "ml.feature_view.freshness": age,
                },
            )
        )
        if model:
            spans.append(
                span(
                    trace,
                    f"inference {model}",
                    {"ml.operation.name": "inference", "ml.model.name": model, "ml.prediction.id": str(i)},
                )
            )
    env.process(request("svc", spans))
    got = env.objective("fresh")
    assert got["period"] == {
        "good": 2,
        "total": 3,
    }  # 30 s and the lookup without an inference here; 900 s bad
    assert got["last_bad_event"]["value"] == 900.0


def test_budget_survives_a_restart_and_starts_over_when_the_objective_changes(tmp_path: Path) -> None:
    env = Env(state=StateStore(tmp_path), objectives=[LATENCY])
    env.inference([0.01] * 40 + [0.5] * 2)
    env.proc.shutdown()
    env.state.close()
    again = Env(state=StateStore(tmp_path), objectives=[LATENCY])
    again.now = env.now + 5
    assert again.objective("lat")["period"] == {"good": 40, "total": 42}
    again.proc.shutdown()
    again.state.close()
    changed = Env(state=StateStore(tmp_path), objectives=[{**LATENCY, "target": 0.99}])
    assert changed.objective("lat")["period"] == {"good": 0, "total": 0}


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        (
            {"objectives": [{**LATENCY, "indicator": "speed"}]},
            "processors.slo.objectives[0].indicator: must be one of",
        ),
        (
            {"objectives": [{**LATENCY, "threshold": None}]},
            "processors.slo.objectives[0].threshold: latency needs",
        ),
        (
            {"objectives": [{**LATENCY, "target": 99}]},
            "processors.slo.objectives[0].target: must be between 0 and 1",
        ),
        ({"objectives": [LATENCY, dict(LATENCY)]}, "processors.slo.objectives[1].name: 'lat' is used twice"),
        (
            {"objectives": [{**LATENCY, "indicator": "performance", "metric": "auc"}]},
            "processors.slo.objectives[0].metric: performance needs one of",
        ),
        (
            {"alert_windows": [{"long": "5m", "short": "1h", "burn_rate": 2}]},
            "processors.slo.alert_windows[0]: need 0 < short < long",
        ),
        ({"objectives": [{**LATENCY, "speed": 1}]}, "processors.slo.objectives[0].speed: unknown key"),
    ],
)
def test_config_errors_name_the_key(slo: dict[str, Any], message: str) -> None:
    import yaml

    text = yaml.safe_dump({"receivers": {"otlp": {}}, "exporters": {"otlp": {}}, "processors": {"slo": slo}})
    with pytest.raises(ConfigError) as err:
        parse_config(text, "sidecar.yaml")
    assert f"sidecar.yaml: {message}" in str(err.value)


def test_durations_accept_days() -> None:
    assert config_from_dict({"period": "30d"}).period == 30 * 86400.0
    assert T0  # the helpers' epoch is in use by the span builders
