"""`/metrics` rendering: OTel → Prometheus names, exemplars that survive other collections, no stale text."""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from otelml_collector.prometheus import PrometheusExposition
from otelml_collector.telemetry import PullMetricReader, build_providers
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _in_prediction(trace_id: int):  # type: ignore[no-untyped-def]
    span = NonRecordingSpan(SpanContext(trace_id, 0x1234, is_remote=False, trace_flags=TraceFlags(1)))
    return trace.set_span_in_context(span)


def _setup():  # type: ignore[no-untyped-def]
    reader = PullMetricReader()
    meters, loggers = build_providers(None, None, extra_readers=[reader])
    return reader, meters, loggers, PrometheusExposition(reader)


def test_names_types_units_and_labels_follow_the_otel_prometheus_rules() -> None:
    _, meters, loggers, exposition = _setup()
    meter = meters.get_meter("t")
    attrs = {"ml.feature.name": "age", "ml.model.name": "m"}
    meter.create_gauge("ml.feature.drift", unit="1").set(0.25, attrs)
    meter.create_histogram("ml.label.delay", unit="s").record(3.0, {"ml.model.name": "m"})
    meter.create_counter("ml.data_quality.violations", unit="{violation}").add(2, {"ml.feature.name": "age"})
    meter.create_up_down_counter("queue.depth").add(-1)
    body, content_type = exposition.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in parse_text(body.decode())}
    drift = families["ml_feature_drift"]
    assert drift.type == "gauge"
    expected = ({"ml_feature_name": "age", "ml_model_name": "m"}, 0.25)
    assert [(s.labels, s.value) for s in drift.samples] == [expected]
    delay = families["ml_label_delay_seconds"]
    assert delay.type == "histogram"
    assert {s.name for s in delay.samples} == {
        "ml_label_delay_seconds_bucket", "ml_label_delay_seconds_count", "ml_label_delay_seconds_sum"
    }
    assert families["ml_data_quality_violations"].type == "counter"
    assert families["ml_data_quality_violations"].samples[0].name == "ml_data_quality_violations_total"
    assert families["queue_depth"].type == "gauge"  # a non-monotonic sum is no counter
    assert families["queue_depth"].samples[0].value == -1
    assert families["target_info"].samples[0].labels["service_name"] == "otelml-collector"
    meters.shutdown()
    loggers.shutdown()


def test_counter_exemplar_is_the_latest_prediction_and_survives_an_earlier_flush() -> None:
    _, meters, loggers, exposition = _setup()
    counter = meters.get_meter("t").create_counter("ml.drift.detections", unit="{window}")
    gauge = meters.get_meter("t").create_gauge("ml.feature.drift")
    attrs = {"ml.feature.name": "income"}
    counter.add(1, attrs, context=_in_prediction(0xA1))  # one window ...
    assert meters.force_flush()
    counter.add(1, attrs, context=_in_prediction(0xB2))  # ... the next
    gauge.set(0.5, attrs, context=_in_prediction(0xC3))
    assert meters.force_flush()  # a processor flushes before Prometheus scrapes: the exemplar must stay
    for _ in range(2):  # and it stays on later scrapes
        body, content_type = exposition.render(OPENMETRICS)
        assert content_type.startswith("application/openmetrics-text")
        families = {f.name: f for f in parse_openmetrics(body.decode())}
        (sample,) = families["ml_drift_detections"].samples
        assert sample.value == 2
        assert sample.exemplar.labels == {"trace_id": format(0xB2, "032x"), "span_id": format(0x1234, "016x")}
        assert families["ml_feature_drift"].samples[0].exemplar is None  # OpenMetrics: none on gauges
    text, _ = exposition.render(None)
    assert b"trace_id" not in text
    meters.shutdown()
    loggers.shutdown()


def test_a_changed_gauge_is_never_served_from_the_previous_text() -> None:
    _, meters, loggers, exposition = _setup()
    gauge = meters.get_meter("t").create_gauge("ml.label.coverage")
    gauge.set(0.25, {"ml.model.name": "m"})
    first = exposition.render(None)[0].decode()
    assert 'ml_label_coverage{ml_model_name="m"} 0.25' in first
    assert 'ml_label_coverage{ml_model_name="m"} 0.25' in exposition.render(None)[0].decode()
    gauge.set(0.75, {"ml.model.name": "m"})
    gauge.set(0.5, {"ml.model.name": "n"})
    lines = exposition.render(None)[0].decode().splitlines()
    assert 'ml_label_coverage{ml_model_name="m"} 0.75' in lines
    assert 'ml_label_coverage{ml_model_name="n"} 0.5' in lines
    meters.shutdown()
    loggers.shutdown()


def test_alert_log_records_are_counted_with_their_prediction_as_exemplar() -> None:
    from opentelemetry._logs import SeverityNumber

    _, meters, loggers, exposition = _setup()
    logger = loggers.get_logger("drift")
    alert = {"ml.model.name": "m", "ml.feature.name": "age", "ml.drift.score": 0.4}
    logger.emit(severity_number=SeverityNumber.WARN, body="drift alert", attributes=alert,
                event_name="ml.drift.alert", context=_in_prediction(0xD4))  # fmt: skip
    logger.emit(severity_number=SeverityNumber.INFO, body="not an alert", attributes=alert,
                event_name="ml.drift.alert")  # fmt: skip
    logger.emit(severity_number=SeverityNumber.ERROR, body="some other log", attributes=alert)
    token = context.attach(_in_prediction(0xE5))
    try:
        logger.emit(severity_number=SeverityNumber.WARN, body="slo", attributes={"ml.slo.name": "latency"},
                    event_name="ml.slo.alert")  # fmt: skip
    finally:
        context.detach(token)
    families = {f.name: f for f in parse_openmetrics(exposition.render(OPENMETRICS)[0].decode())}
    samples = {tuple(sorted(s.labels.items())): s for s in families["ml_alerts"].samples}
    drift = samples[(("event_name", "ml.drift.alert"), ("ml_feature_name", "age"), ("ml_model_name", "m"))]
    assert drift.value == 1 and drift.exemplar.labels["trace_id"] == format(0xD4, "032x")
    slo = samples[(("event_name", "ml.slo.alert"), ("ml_slo_name", "latency"))]
    assert slo.value == 1 and slo.exemplar.labels["trace_id"] == format(0xE5, "032x")
    assert len(samples) == 2  # INFO records and records without an ml.* event are no alerts
    meters.shutdown()
    loggers.shutdown()


def _comparable(body: bytes) -> list[tuple[str, str, list[tuple[str, tuple, float, object]]]]:
    out = []
    for f in parse_openmetrics(body.decode()):
        samples = [
            (s.name, tuple(sorted(s.labels.items())), s.value,
             s.exemplar and (sorted(s.exemplar.labels.items()), s.exemplar.value, s.exemplar.timestamp))
            for s in f.samples if not f.name.startswith("target")
        ]  # fmt: skip
        out.append((f.name, f.type, samples))
    return out


def test_the_incremental_collection_renders_what_the_sdks_own_collection_renders() -> None:
    """One MeterProvider, two readers: the incremental one (series kept while their instrument records
    nothing) and the reference (`incremental=False`: the SDK's collection, every series rendered anew),
    compared after each step of changes to gauges, counters, histograms and observable instruments,
    with blocks of 3 series so that changes land inside, between and across blocks."""
    from opentelemetry.metrics import Observation

    fast, reference = PullMetricReader(), PullMetricReader(incremental=False)
    meters, loggers = build_providers(None, None, extra_readers=[fast, reference])
    expositions = [PrometheusExposition(fast), PrometheusExposition(reference)]
    expositions[0].BLOCK = 3
    meter = meters.get_meter("t")
    gauge = meter.create_gauge("ml.feature.drift")
    counter = meter.create_counter("ml.drift.detections", unit="{window}")
    delay = meter.create_histogram("ml.label.delay", unit="s")
    updown = meter.create_up_down_counter("queue.depth")
    observed = {"n": 0}
    meter.create_observable_counter("spans.received", [lambda _: [Observation(observed["n"])]])
    features = [{"ml.feature.name": f"f{i}"} for i in range(8)]

    def step(changes) -> None:  # type: ignore[no-untyped-def]
        changes()
        bodies = [e.render(OPENMETRICS)[0] for e in expositions]
        assert _comparable(bodies[0]) == _comparable(bodies[1])
        texts = [e.render(None)[0] for e in expositions]
        assert [t for t in texts[0].splitlines() if b"instance_id" not in t] == [
            t for t in texts[1].splitlines() if b"instance_id" not in t
        ]

    step(lambda: [gauge.set(i / 10, a) for i, a in enumerate(features)])
    step(lambda: None)  # nothing changed
    step(lambda: gauge.set(0.95, features[4]))  # inside the second block
    step(lambda: gauge.set(0.95, features[4]))  # the same value again
    step(lambda: [counter.add(1, features[1], context=_in_prediction(0xA1)), delay.record(2.0, features[0])])
    step(lambda: [delay.record(700.0, features[0], context=_in_prediction(0xB2)), updown.add(-2)])
    step(lambda: observed.update(n=5))
    step(lambda: [gauge.set(0.5, {"ml.feature.name": "new"}), counter.add(2, features[7])])  # new series
    step(lambda: meters.force_flush())  # a flush collects both readers before the scrape
    step(lambda: counter.add(1, features[1], context=_in_prediction(0xC3)))
    meters.shutdown()
    loggers.shutdown()
