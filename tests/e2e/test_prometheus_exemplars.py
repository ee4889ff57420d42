"""Issue 12 parts 1 and 2, as a user of Prometheus and Grafana sees them.

A real sidecar (drift, quality, predictions, performance) receives real OTLP from a scikit-learn model
instrumented by otelml (a separate process, the OTel SDK's gRPC exporter); a real Prometheus (exemplar
storage on) scrapes its `/metrics` every second. Then: the exemplars Prometheus holds name traces that
`otelml trace` resolves against the sidecar's prediction store, and every PromQL expression of the
Grafana dashboards returns data.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.support import SidecarProcess, sidecar_config, wait_until
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "collector" / "grafana" / "dashboards"
WINDOW = 300
STABLE, SHIFTED = 2 * WINDOW, 3 * WINDOW


class Stack:
    def __init__(self, sidecar: SidecarProcess, prometheus: Prometheus, prediction_ids: list[str]) -> None:
        self.sidecar = sidecar
        self.prometheus = prometheus
        self.prediction_ids = prediction_ids


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prom")
    expectations = tmp / "expectations.yaml"
    expectations.write_text("columns:\n  income:\n    not_null: true\n    between: {min: -4, max: 2.5}\n")
    processors = {
        "ml_extract": {},
        "drift": {"baseline": {"warmup": WINDOW}, "window": {"size": WINDOW, "seconds": 0}},
        "quality": {"expectations": str(expectations), "window": {"size": WINDOW, "seconds": 0}},
        "predictions": {"retention": "1h"},
        "performance": {
            "window": {"size": WINDOW, "seconds": 0},
            "baseline": {"warmup": WINDOW},
            "thresholds": {"roc_auc": 0.05, "f1": 0.05},
        },
    }
    config = sidecar_config(tmp, processors=processors)
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlp"]}
    }
    sidecar = SidecarProcess(config, tmp / "sidecar").start()
    prometheus = Prometheus(tmp / "prometheus", [sidecar.api.removeprefix("http://")]).start()
    try:
        grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        run = subprocess.run(
            [sys.executable, "-m", "tests.support.ml_traffic", "--endpoint", grpc,
             "--stable", str(STABLE), "--shifted", str(SHIFTED)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        ids = json.loads(run.stdout.splitlines()[-1])["prediction_ids"]
        wait_until(
            lambda: sidecar.counters()["spans"]["received"] >= 2 * len(ids),
            timeout=60, what="every inference and label span at the sidecar",
        )  # fmt: skip
        # the last windows closed and at least two scrapes saw them (rate() needs two samples)
        wait_until(
            lambda: prometheus.query("count_over_time(ml_drift_detections_total[1m]) >= 2"),
            timeout=60, interval=0.5, what="two scrapes of ml_drift_detections_total",
        )  # fmt: skip
        yield Stack(sidecar, prometheus, ids)
    finally:
        prometheus.stop()
        sidecar.stop()


def test_openmetrics_exposition_has_trace_exemplars_on_counters_only(stack: Stack) -> None:
    answer = requests.get(
        stack.sidecar.api + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10
    )
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}  # the strict parser
    drift = families["ml_feature_drift"]
    assert drift.type == "gauge"
    assert {s.labels["ml_feature_name"] for s in drift.samples} >= {"income", "age", "debt_ratio", "tenure"}
    assert all(s.exemplar is None for f in families.values() if f.type == "gauge" for s in f.samples)
    detections = families["ml_drift_detections"]
    assert detections.type == "counter"
    income = [s for s in detections.samples if s.labels["ml_feature_name"] == "income"]
    assert income and all(re.fullmatch(r"[0-9a-f]{32}", s.exemplar.labels["trace_id"]) for s in income)
    # every shifted window of the shifted feature was counted (small windows may flag others too)
    assert income[0].value >= SHIFTED // WINDOW - 1
    delay = families["ml_label_delay_seconds"]
    assert delay.type == "histogram"
    assert any(s.exemplar is not None for s in delay.samples if s.name.endswith("_bucket"))

    plain = requests.get(stack.sidecar.api + "/metrics", timeout=10)
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "trace_id" not in plain.text and "ml_feature_drift{" in plain.text


@pytest.mark.parametrize(
    "series",
    ['ml_drift_detections_total{ml_feature_name="income"}', "ml_alerts_total",
     "ml_data_quality_violations_total", "ml_performance_breaches_total"],
)  # fmt: skip
def test_prometheus_exemplars_resolve_with_otelml_trace(stack: Stack, series: str) -> None:
    answer = stack.prometheus.exemplars(series)
    trace_ids = {e["labels"]["trace_id"] for group in answer for e in group["exemplars"]}
    assert trace_ids, f"Prometheus holds no exemplar for {series}"
    for trace_id in sorted(trace_ids)[:3]:
        run = subprocess.run(
            [sys.executable, "-m", "otelml.cli", "trace", trace_id, "--url", stack.sidecar.api, "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, (series, trace_id, run.stdout, run.stderr)
        found = json.loads(run.stdout)
        assert found["trace_id"] == trace_id
        assert set(found["prediction_ids"]) <= set(stack.prediction_ids) and found["prediction_ids"]
        assert any(span["name"] == "inference credit" for span in found["spans"])


def _expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str) and node["expr"].strip():
            yield node["expr"]
        for value in node.values():
            yield from _expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expressions(value)


def _concrete(expr: str) -> str:
    """Grafana's variables as Grafana would fill them for this stack."""
    for name, value in {
        "$__rate_interval": "1m", "$__interval": "1s", "$__range": "5m",
        "$model": "credit", "$job": "otelml-sidecar",
    }.items():  # fmt: skip
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    assert dashboards, DASHBOARDS
    empty: list[str] = []
    checked = 0
    for path in dashboards:
        for expr in _expressions(json.loads(path.read_text())):
            checked += 1
            if not stack.prometheus.query_range(_concrete(expr), seconds=120, step="2s"):
                empty.append(f"{path.name}: {expr}")
    assert checked >= 8
    assert not empty, "dashboard queries that return nothing:\n" + "\n".join(empty)
