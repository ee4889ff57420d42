"""The `webhook` exporter against a real HTTP receiver: one message per incident, the rate limit, the
JSON format, a 4xx is not retried, and a stuck endpoint never blocks whoever raised the alert."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector import registry
from otelml_collector.bus import ALERTS, Alert, EventBus
from otelml_collector.component import ComponentContext
from otelml_collector.config import ConfigError, parse_config
from otelml_collector.state import StateStore
from otelml_collector.telemetry import build_providers

from tests.collector.slo.webhook_receiver import WebhookReceiver
from tests.support.net import wait_until

TRACE = "5b8efff798038103d269b633813fc60c"


def drift(feature: str, score: float = 0.3, pid: str | None = None) -> Alert:
    attrs: dict[str, Any] = {
        "ml.model.name": "credit",
        "ml.model.version": "1",
        "ml.feature.name": feature,
        "ml.drift.method": "wasserstein",
        "ml.drift.score": score,
        "ml.drift.window.start": f"2026-01-01T00:00:0{int(score * 10) % 10}Z",
    }
    if pid:
        attrs["ml.prediction.id"] = pid
    return Alert(
        "ml.drift.alert",
        "WARN",
        f"drift alert: feature {feature} of model credit: {score}",
        attrs,
        1,
        TRACE,
        "eee19b7ec3c1b174",
    )


def exporter(bus: EventBus, **config: Any) -> Any:
    factory = registry.get("exporter", "webhook")
    ctx = ComponentContext(
        "webhook",
        StateStore(":memory:"),
        MeterProvider(),
        LoggerProvider(),
        bus=bus,
        settings={"trace_url_template": "http://jaeger:16686/trace/{trace_id}"},
    )
    component = factory.create(factory.config_from_dict(config), ctx)
    component.start()
    return component


def test_one_message_per_incident_and_a_rate_limit() -> None:
    bus = EventBus()
    with WebhookReceiver() as hook:
        hook_exporter = exporter(
            bus,
            endpoint=hook.url,
            rate_limit={"messages": 2, "interval": "1h"},
            public_url="https://ml.example.com/",
        )
        try:
            for score in (0.3, 0.5, 0.7):  # the same incident re-raised with other figures and windows
                bus.publish(ALERTS, drift("income", score, pid="p-1"))
            bus.publish(ALERTS, drift("age"))
            bus.publish(ALERTS, drift("tenure"))  # third distinct incident: over the rate limit
            wait_until(
                lambda: hook_exporter.queue_depth()["rate_limited"] == 1, what="the rate-limited alert"
            )
            counts = hook_exporter.queue_depth()
        finally:
            hook_exporter.shutdown()
    texts = [m["text"] for m in hook.received()]
    assert len(texts) == 2 and "feature income" in texts[0] and "feature age" in texts[1]
    assert counts["deduplicated"] == 2 and counts["sent"] == 2 and counts["received"] == 5
    assert f"<https://ml.example.com/ui/predictions/p-1|prediction p-1 (trace {TRACE})>" in texts[0]
    assert f"<http://jaeger:16686/trace/{TRACE}|" in texts[0]
    assert f"https://ml.example.com/ui/predictions/{TRACE}" in texts[1]  # no prediction id: the trace id


def test_json_format_and_a_4xx_is_not_retried() -> None:
    bus = EventBus()
    with WebhookReceiver() as ok, WebhookReceiver(fail_first=5, status=400) as refusing:
        good = exporter(bus, endpoint=ok.url, format="json", headers={"X-Token": "s3cret"})
        bad = exporter(bus, endpoint=refusing.url, retry_on_failure={"initial_interval": "10ms"})
        try:
            bus.publish(ALERTS, drift("income", pid="p-9"))
            wait_until(lambda: ok.received() and bad.queue_depth()["failed"] == 1, what="both deliveries")
        finally:
            good.shutdown()
            bad.shutdown()
    (message,) = ok.received()
    assert message["event"] == "ml.drift.alert" and message["trace_id"] == TRACE
    assert message["prediction_id"] == "p-9" and message["attributes"]["ml.feature.name"] == "income"
    assert message["links"]["prediction"].endswith("/ui/predictions/p-9")
    assert ok.headers[0]["X-Token"] == "s3cret"
    assert refusing.attempts == 1 and bad.queue_depth()["retries"] == 0


def test_a_stuck_endpoint_never_blocks_the_alerting_thread_and_the_queue_is_bounded() -> None:
    release = threading.Event()
    with WebhookReceiver() as hook:
        import http.server

        original = hook._server.RequestHandlerClass.do_POST

        def stuck(handler: http.server.BaseHTTPRequestHandler) -> None:
            release.wait(10)
            original(handler)

        hook._server.RequestHandlerClass.do_POST = stuck  # type: ignore[method-assign]
        bus = EventBus()
        slow = exporter(
            bus, endpoint=hook.url, sending_queue={"queue_size": 3}, dedupe_interval=0, timeout="20s"
        )
        try:
            for i in range(10):  # returns at once although the first post hangs
                bus.publish(ALERTS, drift(f"f{i}"))
            assert slow.queue_depth()["queue_full"] >= 6
        finally:
            release.set()
            slow.shutdown(timeout=10)
    assert 1 <= len(hook.received()) <= 4


def test_alert_log_records_reach_the_bus_and_info_records_do_not() -> None:
    bus = EventBus()
    got: list[Alert] = []
    bus.subscribe(ALERTS, got.append)
    _, logger_provider = build_providers(None, None, alert_bus=bus)
    logger = logger_provider.get_logger("test")
    logger.emit(severity_number=SeverityNumber.INFO, body="window closed", attributes={"a": "b"})
    logger.emit(
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body="slo alert",
        event_name="ml.slo.alert",
        attributes={"ml.slo.name": "lat", "ml.drift.exemplar.trace_ids": ("a", "b")},
    )
    assert [(a.event_name, a.body, a.attributes["ml.slo.name"]) for a in got] == [
        ("ml.slo.alert", "slo alert", "lat")
    ]
    assert got[0].attributes["ml.drift.exemplar.trace_ids"] == ["a", "b"]


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        ({}, "exporters.webhook.endpoint: an http(s) URL of the webhook is required"),
        ({"endpoint": "hooks.slack.com/x"}, "exporters.webhook.endpoint: an http(s) URL"),
        (
            {"endpoint": "http://h/x", "format": "teams"},
            "exporters.webhook.format: must be one of slack, json",
        ),
        ({"endpoint": "http://h/x", "retry": {}}, "exporters.webhook.retry: unknown key"),
    ],
)
def test_config_errors_name_the_key(webhook: dict[str, Any], message: str) -> None:
    import yaml

    text = yaml.safe_dump({"receivers": {"otlp": {}}, "exporters": {"otlp": {}, "webhook": webhook}})
    with pytest.raises(ConfigError) as err:
        parse_config(text, "sidecar.yaml")
    assert f"sidecar.yaml: {message}" in str(err.value)
