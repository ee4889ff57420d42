"""Issue 14 parts 2 and 4 as a user sees them, through a real sidecar subprocess.

Inference spans come from the otelml library over the OTel SDK's gRPC exporter; the sidecar's metrics
go over OTLP to a real receiver (oteltap); alerts go to a real HTTP webhook receiver. A latency
objective that burns its budget pages exactly once, with the trace id of a slow prediction, and its
burn rate equals the one computed here from the spans the client exported; a healthy objective keeps
its whole budget (on /v1/slo and in the exported metrics); a drift alert reaches a webhook that fails
twice before accepting, once, with the trace id of a shifted prediction, and the retries are counted.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otelml
from otelml import _telemetry
from tests.collector.slo.webhook_receiver import WebhookReceiver
from tests.support.net import wait_until
from tests.support.sidecar import sidecar_config

pytestmark = pytest.mark.e2e

MODEL = "credit"
TARGET = 0.9
THRESHOLD_S = 0.05
BURN = 2.0


class Client:
    """The otelml library exporting over OTLP/gRPC to the sidecar; a copy of every span in memory."""

    def __init__(self, grpc_endpoint: str) -> None:
        self.copy = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "scorer"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.copy))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True), schedule_delay_millis=50
            )
        )
        otelml.configure(tracer_provider=self.provider)

    def predict(self, seconds: float = 0.0, score: float = 0.7, **features: float) -> None:
        with otelml.inference(model=MODEL, version="1") as span:
            if features:
                span.set_features(np.array([list(features.values())]), list(features))
            span.set_prediction(np.array([int(score > 0.5)]), np.array([score]))
            if seconds:
                time.sleep(seconds)

    def flush(self) -> None:
        self.provider.force_flush()

    def inference_spans(self) -> list[Any]:
        return [s for s in self.copy.get_finished_spans() if s.name.startswith("inference")]

    def close(self) -> None:
        self.provider.shutdown()
        _telemetry.reset_providers()


def objective(status: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [o for o in status["objectives"] if o["name"] == name]
    return found


def exported_gauges(sink: Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Latest value per attribute set of gauge `name` in what the sidecar exported over OTLP."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for metric in list(sink.metrics):  # oteltap yields Metric messages, oldest first
        if metric.name == name:
            for p in metric.gauge.data_points:
                out[tuple(sorted((a.key, a.value.string_value) for a in p.attributes))] = p.as_double
    return out


def test_a_burning_latency_objective_pages_once_and_a_healthy_one_keeps_its_budget(
    sidecar: Any, otlp_sink: Any, tmp_path: Any
) -> None:
    with WebhookReceiver() as hook:
        config = sidecar_config(
            tmp_path,
            downstream=otlp_sink.endpoint,
            processors={
                "slo": {
                    "objectives": [
                        {
                            "name": "credit-latency",
                            "model": MODEL,
                            "indicator": "latency",
                            "threshold": f"{THRESHOLD_S * 1000:g}ms",
                            "target": TARGET,
                        },
                        {"name": "credit-errors", "model": MODEL, "indicator": "errors", "target": TARGET},
                    ],
                    "alert_windows": [{"long": "60s", "short": "5s", "burn_rate": BURN}],
                    "period": "1h",
                    "min_events": 10,
                    "evaluate_interval": "100ms",
                }
            },
            exporters={"webhook": {"endpoint": hook.url, "retry_on_failure": {"initial_interval": "50ms"}}},
        )
        car = sidecar(config)
        client = Client(car.grpc_endpoint)
        try:
            for _ in range(30):  # a healthy start: nothing pages
                client.predict()
            client.flush()
            wait_until(
                lambda: objective(car.get("/v1/slo")[1], "credit-latency")["period"]["total"] >= 30,
                what="30 events counted",
            )
            time.sleep(0.3)
            assert hook.received() == []

            for i in range(24):  # then every other prediction is slow: 40% of 60 bad, burn rate 4 > 2
                client.predict(seconds=THRESHOLD_S + 0.03 if i % 2 == 0 else 0.0)
            client.flush()
            wait_until(lambda: hook.received(), timeout=15, what="the SLO page at the webhook")
            for _ in range(12):  # still burning: no second page
                client.predict(seconds=THRESHOLD_S + 0.03)
            client.flush()
            spans = client.inference_spans()
            wait_until(
                lambda: objective(car.get("/v1/slo")[1], "credit-latency")["period"]["total"] == len(spans),
                what="every inference span counted",
            )
            time.sleep(1.0)
            slo = car.get("/v1/slo")[1]
            messages = hook.received()
        finally:
            client.close()

        # exactly one page, naming the objective, the model and the figure, linking a slow prediction
        assert len(messages) == 1, messages
        text = messages[0]["text"]
        assert "credit-latency" in text and f"model {MODEL}" in text and "burns its error budget" in text
        slow = {
            format(s.context.trace_id, "032x")
            for s in spans
            if (s.end_time - s.start_time) / 1e9 > THRESHOLD_S
        }
        linked = set(re.findall(r"trace ([0-9a-f]{32})", text))
        assert linked and linked <= slow, (linked, text)
        assert "/ui/predictions/" in text

        # burn rate and budget equal an independent computation from the exported spans
        bad = sum((s.end_time - s.start_time) / 1e9 > THRESHOLD_S for s in spans)
        latency = objective(slo, "credit-latency")
        assert latency["alerts"] == 1 and latency["alerting"]
        assert latency["period"] == {"good": len(spans) - bad, "total": len(spans)}
        long = latency["windows"][0]["long"]
        assert long["total"] == len(spans) and long["bad"] == bad
        assert long["burn_rate"] == pytest.approx(bad / len(spans) / (1 - TARGET))
        assert latency["error_budget_remaining"] == pytest.approx(1 - bad / (len(spans) * (1 - TARGET)))

        healthy = objective(slo, "credit-errors")
        assert healthy["alerts"] == 0 and not healthy["alerting"]
        assert healthy["error_budget_remaining"] == 1.0
        assert healthy["period"] == {"good": len(spans), "total": len(spans)}

        # the same figures in the metrics the sidecar exports over OTLP
        budget = wait_until(
            lambda: (
                exported_gauges(otlp_sink, "ml.slo.error_budget.remaining").get(
                    (("ml.model.name", MODEL), ("ml.slo.name", "credit-errors"))
                )
                is not None
                and exported_gauges(otlp_sink, "ml.slo.error_budget.remaining")
            ),
            timeout=10,
            what="ml.slo.error_budget.remaining exported",
        )
        assert budget[(("ml.model.name", MODEL), ("ml.slo.name", "credit-errors"))] == 1.0
        burn = exported_gauges(otlp_sink, "ml.slo.burn_rate")
        key = (("ml.model.name", MODEL), ("ml.slo.name", "credit-latency"), ("ml.slo.window", "1m"))
        assert burn[key] == pytest.approx(bad / len(spans) / (1 - TARGET))


def test_a_drift_alert_reaches_a_webhook_that_fails_twice_once_with_its_trace_id(
    sidecar: Any, tmp_path: Any
) -> None:
    with WebhookReceiver(fail_first=2) as hook:
        config = sidecar_config(
            tmp_path,
            processors={
                "ml_extract": {},
                "drift": {"baseline": {"warmup": 1000}, "window": {"size": 1000, "seconds": 0}},
            },
            exporters={
                "webhook": {
                    "endpoint": hook.url,
                    "public_url": "https://otelml.example.com",
                    "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"},
                }
            },
        )
        car = sidecar(config)
        client = Client(car.grpc_endpoint)
        rng = np.random.default_rng(7)
        try:
            for phase_mean in (50, 80):  # warm-up, then a shift of three standard deviations
                for income, age, score in zip(
                    rng.normal(phase_mean, 10, 1000),
                    rng.normal(40, 5, 1000),
                    rng.uniform(0, 1, 1000),
                    strict=True,
                ):
                    client.predict(score=float(score), income=float(income), age=float(age))
            client.flush()
            wait_until(lambda: hook.received(), timeout=30, what="the drift alert at the webhook")
            time.sleep(0.5)
            exporters = car.status()["exporters"]["exporters.webhook"]
            spans = client.inference_spans()
        finally:
            client.close()

    messages = hook.received()
    assert len(messages) == 1 and hook.attempts == 3, [m["text"][:90] for m in messages]
    assert exporters["retries"] == 2 and exporters["sent"] == 1 and exporters["failed"] == 0
    text = messages[0]["text"]
    assert "drift alert" in text and "income" in text and f"model {MODEL}" in text
    shifted_traces = {format(s.context.trace_id, "032x") for s in spans[1000:]}  # after the shift
    (linked,) = set(re.findall(r"trace ([0-9a-f]{32})", text))
    assert linked in shifted_traces
    (linked_span,) = [s for s in spans if format(s.context.trace_id, "032x") == linked]
    assert linked_span.attributes["ml.feature.income"] > 50  # above the warm-up mean: one of the shifted
    assert f"https://otelml.example.com/ui/predictions/{linked}" in text
