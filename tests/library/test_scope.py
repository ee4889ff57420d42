"""The prediction scope: one ml.prediction.id per request, readable until the request ends."""

from __future__ import annotations

import concurrent.futures
import re

import pytest
from opentelemetry import baggage, context

import otelml
from otelml import PredictionIdPropagator

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_local_root_span_is_the_scope(telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")
    assert otelml.current_prediction_id() is None
    with tracer.start_as_current_span("GET /predict"):
        assert otelml.current_prediction_id() is None  # no otelml span yet
        with otelml.feature_lookup(view="profile"):
            pass
        with otelml.inference(model="m"):
            pass
        after_inference = otelml.current_prediction_id()  # the inference span has ended
        with otelml.postprocess(step="rule"):
            pass
    assert otelml.current_prediction_id() is None
    with tracer.start_as_current_span("GET /predict"), otelml.inference(model="m"):
        pass
    lookup, infer, post, root, infer2, _root2 = telemetry.finished()
    ids = {s.attributes["ml.prediction.id"] for s in (lookup, infer, post)}
    assert ids == {after_inference}
    assert HEX32.match(after_inference)
    assert infer2.attributes["ml.prediction.id"] != after_inference
    assert "ml.prediction.id" not in root.attributes


def test_explicit_scope_id_and_lazy_creation(telemetry) -> None:
    with otelml.prediction() as scope:
        first = otelml.current_prediction_id()
        with otelml.inference(model="m") as h:
            pass
        assert scope.id == first == h.prediction_id
    assert HEX32.match(first)
    with otelml.prediction(id="order-17"), otelml.inference(model="m"):
        assert otelml.current_prediction_id() == "order-17"
    inferences = [s for s in telemetry.finished() if s.name == "inference m"]
    assert inferences[1].attributes["ml.prediction.id"] == "order-17"


def test_explicit_scope_outside_a_trace_is_one_trace_under_a_prediction_span(telemetry) -> None:
    with otelml.prediction(), otelml.feature_lookup(view="v"):
        pass
    with pytest.raises(KeyError), otelml.prediction():
        with otelml.inference(model="m"), otelml.postprocess(step="s"):
            pass
        raise KeyError("boom")
    first_lookup, first_root, post, infer, root = telemetry.finished()
    assert first_root.name == root.name == "prediction" and first_root.parent is None
    assert first_lookup.parent.span_id == first_root.context.span_id
    assert {infer.context.trace_id, post.context.trace_id} == {root.context.trace_id}
    assert infer.parent.span_id == root.context.span_id
    assert root.attributes["ml.prediction.id"] == infer.attributes["ml.prediction.id"]
    assert root.status.status_code.name == "ERROR"  # the exception is recorded and re-raised unchanged


def test_explicit_scope_inside_a_trace_adds_no_span(telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"), otelml.prediction(), otelml.inference(model="m"):
        pass
    assert [s.name for s in telemetry.finished()] == ["inference m", "request"]


def test_decorated_prediction_scope_gives_each_call_its_id(telemetry) -> None:
    @otelml.prediction()
    def handle(x: int) -> str | None:
        with otelml.feature_lookup(view="v"), otelml.inference(model="m"):
            pass
        return otelml.current_prediction_id()

    a, b = handle(1), handle(2)
    assert a != b
    spans = telemetry.finished()  # each call: inference, lookup (nested), then the scope span
    assert [s.attributes["ml.prediction.id"] for s in spans] == [a, a, a, b, b, b]
    assert [s.name for s in spans[:3]] == ["inference m", "feature_lookup v", "prediction"]


def test_concurrent_requests_do_not_share_ids(telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")

    def request(i: int) -> tuple[str | None, str | None]:
        with tracer.start_as_current_span(f"request {i}"):
            with otelml.inference(model="m") as h:
                pass
            return h.prediction_id, otelml.current_prediction_id()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(request, range(40)))
    assert all(span_id == scope_id for span_id, scope_id in results)
    assert len({r[0] for r in results}) == 40


def test_incoming_baggage_sets_the_id(telemetry) -> None:
    headers = {"baggage": "tenant=acme,ml.prediction.id=upstream-7"}
    token = context.attach(PredictionIdPropagator().extract(headers))
    try:
        with otelml.inference(model="m"):
            pass
        assert otelml.current_prediction_id() == "upstream-7"
    finally:
        context.detach(token)
    assert telemetry.finished()[0].attributes["ml.prediction.id"] == "upstream-7"


def test_malformed_incoming_id_is_ignored(telemetry) -> None:
    ctx = PredictionIdPropagator().extract({"baggage": "ml.prediction.id=" + "x" * 300})
    assert baggage.get_baggage("ml.prediction.id", ctx) is None


def test_inject_adds_id_and_keeps_other_baggage(telemetry) -> None:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    composite = CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator(), PredictionIdPropagator()]
    )
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with otelml.prediction(id="p-123"):
            carrier: dict[str, str] = {}
            composite.inject(carrier)
    finally:
        context.detach(token)
    entries = dict(part.split("=", 1) for part in carrier["baggage"].split(","))
    assert entries == {"tenant": "acme", "ml.prediction.id": "p-123"}
    # and a receiving process reads it back
    received = composite.extract(carrier)
    assert baggage.get_baggage("ml.prediction.id", received) == "p-123"


def test_nothing_injected_outside_a_scope() -> None:
    carrier: dict[str, str] = {}
    PredictionIdPropagator().inject(carrier)
    assert carrier == {}


def test_remote_parent_without_server_span_still_shares_the_id(telemetry) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    incoming = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    token = context.attach(TraceContextTextMapPropagator().extract(incoming))
    try:
        with otelml.feature_lookup(view="v"):
            pass
        with otelml.inference(model="m"):
            pass
        current = otelml.current_prediction_id()
    finally:
        context.detach(token)
    lookup, infer = telemetry.finished()
    assert lookup.attributes["ml.prediction.id"] == infer.attributes["ml.prediction.id"] == current
    assert format(infer.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
