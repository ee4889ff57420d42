"""One user call of a prediction method -> one ``inference {model}`` span.

Nested calls (a Pipeline calling its steps, ``predict`` calling ``decision_function``, a subclass calling
``super().predict``) run inside the outer call's context and add no span. Every step of the telemetry is
guarded: a failure is logged once per site and the model call goes on untouched.
"""

from __future__ import annotations

import logging
import weakref
from contextvars import ContextVar
from typing import Any, NamedTuple

import numpy as np
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Status, StatusCode

from otelml import _models
from otelml._capture import feature_attributes, prediction_attributes
from otelml._config import get_config
from otelml.semconv import (
    ML_MODEL_FRAMEWORK,
    ML_MODEL_NAME,
    ML_MODEL_TASK,
    ML_MODEL_VERSION,
    ML_OPERATION_NAME,
    OPERATION_INFERENCE,
)

_log = logging.getLogger("otelml")

_inside: ContextVar[bool] = ContextVar("otelml_sklearn_inside", default=False)
_logged: set[str] = set()


def log_once(site: str, exc: BaseException) -> None:
    """Log an instrumentation error the first time it happens at ``site``."""
    if site not in _logged:
        _logged.add(site)
        _log.warning("otelml sklearn instrumentation: %s failed (%s: %s); the model call is unaffected; "
                     "further errors here are not logged", site, type(exc).__name__, exc, exc_info=exc)


class _Model(NamedTuple):
    span_name: str
    static: dict[str, Any]  # model name/version/framework/task attributes
    classifier: bool
    generation: int


_TASKS = {"classifier": "classification", "regressor": "regression", "clusterer": "clustering",
          "outlier_detector": "outlier_detection", "density_estimator": "density_estimation"}
_models_cache: weakref.WeakKeyDictionary[Any, _Model] = weakref.WeakKeyDictionary()


def _task(estimator: Any) -> str | None:
    try:
        from sklearn.utils import get_tags

        return _TASKS.get(get_tags(estimator).estimator_type or "")
    except Exception:
        return _TASKS.get(getattr(estimator, "_estimator_type", "") or "")


def _model(estimator: Any) -> _Model:
    cached = _models_cache.get(estimator)
    if cached is not None and cached.generation == _models.generation:
        return cached
    info = _models.model_info(estimator)
    name = info.name if info else type(estimator).__name__
    static: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_INFERENCE, ML_MODEL_NAME: name,
                              ML_MODEL_FRAMEWORK: "sklearn"}
    if info and info.version is not None:
        static[ML_MODEL_VERSION] = info.version
    task = _task(estimator)
    if task:
        static[ML_MODEL_TASK] = task
    model = _Model(f"{OPERATION_INFERENCE} {name}", static, task == "classification", _models.generation)
    _models_cache[estimator] = model
    return model


def _feature_names(estimator: Any) -> Any:
    """``feature_names_in_`` of the estimator, or of a Pipeline's first real step; None without."""
    for _ in range(8):
        state = getattr(estimator, "__dict__", {})
        names = state.get("feature_names_in_")
        if names is not None:
            return names
        steps = state.get("steps")
        if not steps:
            return None
        estimator = next((s for _, s in steps if s not in (None, "passthrough")), None)
    return None


def _outputs(model: _Model, estimator: Any, method: str, result: Any) -> tuple[Any, Any]:
    """(predicted value, score) from what the user's call returned; never calls the model again."""
    if method == "predict":
        return result, None
    if not model.classifier or not isinstance(result, np.ndarray):
        return (result, None) if method == "decision_function" else (None, None)
    classes = getattr(estimator, "classes_", None)
    if method == "decision_function":
        if result.ndim == 1 and classes is not None and len(classes) == 2:
            return classes[(result > 0).astype(np.intp)], None
        if result.ndim == 2 and classes is not None:
            return classes[result.argmax(axis=1)], None
        return None, None
    if result.ndim != 2:
        return None, None
    proba = np.exp(result) if method == "predict_log_proba" else result
    best = proba.argmax(axis=1)
    value = classes[best] if classes is not None and len(classes) == proba.shape[1] else best
    score = proba[:, 1] if proba.shape[1] == 2 else proba[np.arange(len(proba)), best]
    return value, score


class Hooks(NamedTuple):
    tracer: trace.Tracer
    request_hook: Any
    response_hook: Any


hooks: Hooks | None = None


def call(method: str, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """The body of every patched prediction method."""
    state = hooks
    if state is None or _inside.get() or not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    if instance is None:  # reached through sklearn's available_if: MethodType(fn, estimator)
        instance = args[0]
        X = args[1] if len(args) > 1 else kwargs.get("X")
    else:
        X = args[0] if args else kwargs.get("X")

    span = None
    try:
        config = get_config()
        model = _model(instance)
        try:
            attrs, rows = feature_attributes(X, _feature_names(instance), config)
        except Exception as exc:
            log_once("recording the features", exc)
            attrs, rows = {}, None
        attrs.update(model.static)
        span = state.tracer.start_span(model.span_name, attributes=attrs)
        ctx_token = otel_context.attach(trace.set_span_in_context(span))
    except Exception as exc:
        log_once("starting the inference span", exc)
        if span is not None:
            span.end()
        return wrapped(*args, **kwargs)

    if state.request_hook is not None:
        try:
            state.request_hook(span, instance, method, X)
        except Exception as exc:
            log_once("request_hook", exc)

    token = _inside.set(True)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _inside.reset(token)
        _fail(span, ctx_token, exc)
        raise
    _inside.reset(token)

    try:
        if span.is_recording():
            value, score = _outputs(model, instance, method, result)
            if value is not None:
                span.set_attributes(prediction_attributes(value, score, rows, config))
    except Exception as exc:
        log_once("recording the prediction", exc)
    if state.response_hook is not None:
        try:
            state.response_hook(span, instance, method, result)
        except Exception as exc:
            log_once("response_hook", exc)
    try:
        otel_context.detach(ctx_token)
        span.end()
    except Exception as exc:
        log_once("ending the inference span", exc)
    return result


def _fail(span: Any, ctx_token: Any, exc: BaseException) -> None:
    try:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        otel_context.detach(ctx_token)
        span.end()
    except Exception as err:
        log_once("recording the model's exception", err)
