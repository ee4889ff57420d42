"""Span shapes of otelml.inference / feature_lookup / postprocess, decorators and the guarantees."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode

import otelml

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_public_names() -> None:
    assert set(otelml.__all__) == {
        "FeatureLookupSpan", "InferenceSpan", "OtelmlConfig", "PostprocessSpan", "PredictionIdPropagator",
        "PredictionScope", "__version__", "configure", "current_prediction_id", "feature_lookup",
        "get_config", "inference", "postprocess", "prediction", "record_label", "register_model",
    }
    for name in otelml.__all__:
        assert getattr(otelml, name) is not None


def test_inference_span_shape(telemetry) -> None:
    X = np.array([[1.5, -2.0, 3.0]])
    with otelml.inference(model="churn", version=3, framework="sklearn", task="classification") as h:
        h.set_features(X, ["Tenure Months", "balance", "age"])
        h.set_prediction(np.array([1]), np.array([0.75]))
        h.set_segment("Region", "eu-west")
        h.set_attribute("app.custom", "x")
    (span,) = telemetry.finished()
    assert span.name == "inference churn"
    attrs = dict(span.attributes)
    assert HEX32.match(attrs.pop("ml.prediction.id"))
    assert attrs.pop("ml.operation.name") == "inference"
    assert attrs.pop("ml.model.name") == "churn"
    assert attrs.pop("ml.model.version") == "3"
    assert attrs.pop("ml.model.framework") == "sklearn"
    assert attrs.pop("ml.model.task") == "classification"
    assert attrs.pop("ml.feature.tenure_months") == 1.5
    assert attrs.pop("ml.feature.balance") == -2.0
    assert attrs.pop("ml.feature.age") == 3.0
    assert attrs.pop("ml.prediction.value") == 1
    assert attrs.pop("ml.prediction.score") == 0.75
    assert attrs.pop("ml.segment.region") == "eu-west"
    assert attrs.pop("app.custom") == "x"
    assert attrs == {}
    assert span.status.status_code == StatusCode.UNSET


class _StartAttributes(SpanProcessor):
    def __init__(self) -> None:
        self.seen: list[dict] = []

    def on_start(self, span, parent_context=None) -> None:
        self.seen.append(dict(span.attributes))


def test_features_given_up_front_are_on_the_span_at_start(telemetry) -> None:
    recorder = _StartAttributes()
    telemetry.tracer_provider.add_span_processor(recorder)
    with otelml.inference(model="m", features=np.array([4.0, 5.0]), feature_names=["a", "b"]):
        pass
    (at_start,) = recorder.seen
    assert at_start["ml.feature.a"] == 4.0
    assert at_start["ml.feature.b"] == 5.0
    assert HEX32.match(at_start["ml.prediction.id"])


def test_feature_lookup_and_postprocess_shapes(telemetry) -> None:
    with otelml.prediction(id="req-42"):
        with otelml.feature_lookup(view="customer_profile", store="sqlite", version=2,
                                   feature_names=["age", "plan"]) as fl:
            fl.set_freshness(12.5)
        with otelml.postprocess(step="approve_threshold") as pp:
            pp.set_decision("approve")
    lookup, post, scope = telemetry.finished()
    assert scope.name == "prediction" and scope.attributes == {"ml.prediction.id": "req-42"}
    assert lookup.name == "feature_lookup customer_profile"
    attrs = dict(lookup.attributes)
    assert attrs.pop("ml.operation.name") == "feature_lookup"
    assert attrs.pop("ml.prediction.id") == "req-42"
    assert attrs.pop("ml.feature_view.name") == "customer_profile"
    assert attrs.pop("ml.feature_store.name") == "sqlite"
    assert attrs.pop("ml.feature_view.version") == "2"
    assert attrs.pop("ml.feature.names") == ("age", "plan")
    assert attrs.pop("ml.feature_view.freshness") == 12.5
    assert attrs == {}
    assert post.name == "postprocess approve_threshold"
    attrs = dict(post.attributes)
    assert attrs.pop("ml.operation.name") == "postprocess"
    assert attrs.pop("ml.prediction.id") == "req-42"
    assert attrs.pop("ml.postprocess.step") == "approve_threshold"
    assert attrs.pop("ml.decision") == "approve"
    assert attrs == {}


def test_nested_spans_are_parent_and_child(telemetry) -> None:
    with otelml.inference(model="outer") as outer, otelml.postprocess(step="inner"):
        pass
    inner_span, outer_span = telemetry.finished()
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert inner_span.attributes["ml.prediction.id"] == outer.prediction_id


def test_decorators_sync_and_async(telemetry) -> None:
    @otelml.inference(model="doubler", version="1")
    def predict(x: float) -> float:
        return x * 2

    @otelml.postprocess(step="round")
    async def decide(x: float) -> int:
        await asyncio.sleep(0)
        return round(x)

    assert predict(2.5) == 5.0
    assert predict(1.0) == 2.0
    assert asyncio.run(decide(2.6)) == 3
    names = [s.name for s in telemetry.finished()]
    assert names == ["inference doubler", "inference doubler", "postprocess round"]
    assert predict.__name__ == "predict"
    ids = {s.attributes["ml.prediction.id"] for s in telemetry.finished()}
    assert len(ids) == 3  # no enclosing scope: each top-level call is its own prediction


async def test_async_with(telemetry) -> None:
    async with otelml.prediction(id="p-async"), otelml.inference(model="m") as h:
        await asyncio.sleep(0)
        assert otelml.current_prediction_id() == "p-async" == h.prediction_id
    assert telemetry.finished()[0].attributes["ml.prediction.id"] == "p-async"


def test_exception_is_reraised_unchanged_and_recorded(telemetry) -> None:
    boom = ValueError("model exploded")
    with pytest.raises(ValueError) as info, otelml.inference(model="m"):
        raise boom
    assert info.value is boom

    @otelml.feature_lookup(view="v")
    def lookup() -> None:
        raise KeyError("customer 7")

    with pytest.raises(KeyError, match="customer 7"):
        lookup()
    for span, exc_type in zip(telemetry.finished(), ("ValueError", "KeyError"), strict=True):
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description.startswith(exc_type)
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == exc_type


class _Unconvertible:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("cannot convert")

    def __len__(self) -> int:
        raise RuntimeError("no len")


def test_capture_failure_never_reaches_the_caller(telemetry, caplog) -> None:
    with otelml.inference(model="m") as h:
        h.set_features(_Unconvertible())
        h.set_prediction(_Unconvertible())
        h.set_segment("plan", "gold")
        result = 41 + 1
    assert result == 42
    (span,) = telemetry.finished()
    assert span.attributes["ml.segment.plan"] == "gold"
    assert not any(k.startswith("ml.feature.") for k in span.attributes)
    assert "otelml: capturing inference features failed" in caplog.text


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"otelml\.inference: model must be a non-empty string"):
        otelml.inference(model="")
    with pytest.raises(ValueError, match=r"otelml\.postprocess: step"):
        otelml.postprocess(step=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"otelml\.prediction: id must be"):
        otelml.prediction(id="has space")


class _BrokenProcessor(SpanProcessor):
    def on_start(self, span, parent_context=None) -> None:
        raise RuntimeError("processor bug")


def test_broken_telemetry_pipeline_never_reaches_user_code(telemetry, caplog) -> None:
    telemetry.tracer_provider.add_span_processor(_BrokenProcessor())

    @otelml.postprocess(step="p")
    def decide(x: int) -> int:
        return x + 1

    with otelml.inference(model="m") as h:
        h.set_prediction(np.array([3]))
        inside = "ran"
    assert inside == "ran"
    assert decide(1) == 2
    assert "otelml: starting the 'inference m' span failed" in caplog.text


def test_configure_with_providers_only_keeps_the_settings(telemetry) -> None:
    otelml.configure(drop_features=["ssn"], max_batch_rows=7)
    otelml.configure(tracer_provider=telemetry.tracer_provider)
    config = otelml.get_config()
    assert config.drop_features == frozenset({"ssn"})
    assert config.max_batch_rows == 7


def test_span_exited_in_another_context_ends_and_logs_instead_of_raising(telemetry, caplog) -> None:
    import contextvars

    from opentelemetry import context, trace

    before = context.get_current()
    handle = otelml.inference(model="churn")
    handle.__enter__()
    assert trace.get_current_span() is handle.span  # attached through the runtime ContextVar directly
    # Exited from a copied context (a callback on another task): the token cannot be reset there.
    with caplog.at_level("WARNING", logger="otelml"):
        contextvars.copy_context().run(handle.__exit__, None, None, None)
    (span,) = telemetry.finished()
    assert span.end_time is not None
    assert any("detaching" in r.getMessage() for r in caplog.records)
    context.attach(before)  # this context still holds the span (as with the API's detach): restore it
