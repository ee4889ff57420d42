"""One user call of a prediction method -> one ``inference {model}`` span.

Nested calls (a Pipeline calling its steps, ``predict`` calling ``decision_function``, a subclass calling
``super().predict``) run inside the outer call's context and add no span. Every step of the telemetry is
guarded: a failure is logged once per site and the model call goes on untouched.
"""

from __future__ import annotations

import functools
import math
import random
import weakref
from contextvars import ContextVar
from time import perf_counter, time_ns
from typing import Any, Final, NamedTuple

import numpy as np

# The two keys `is_instrumentation_enabled()` reads, checked on the current context directly: this runs
# on every prediction, so it saves two function calls.
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

from otelml import _config, _labels, _models, _scope, _telemetry
from otelml._capture import _NUMERIC, feature_attributes, prediction_attributes, row_keys
from otelml._config import OtelmlConfig, get_config
from otelml._context import attach as _attach
from otelml._context import detach as _detach
from otelml._context import get_current as _get_current
from otelml._errors import log_once
from otelml.semconv import (
    ML_MODEL_FRAMEWORK,
    ML_MODEL_NAME,
    ML_MODEL_TASK,
    ML_MODEL_VERSION,
    ML_OPERATION_NAME,
    ML_PREDICTION_ID,
    ML_PREDICTION_SCORE,
    ML_PREDICTION_VALUE,
    OPERATION_INFERENCE,
)

_inside: ContextVar[bool] = ContextVar("otelml_sklearn_inside", default=False)
_inside_get, _inside_set, _inside_reset = _inside.get, _inside.set, _inside.reset
_ndarray = np.ndarray
# SpanContext is the tuple (trace id, span id, is remote, trace flags, trace state, is valid); an index is
# read in C where the `trace_flags.sampled` properties are two Python calls.
_TRACE_FLAGS: Final = 3
_SAMPLED: Final = 1
_getrandbits = random.getrandbits
_dict_setitem = dict.__setitem__  # Context forbids item assignment; our fresh, unshared copy is filled in
_EMPTY: dict[str, Any] = {}


class _Model:
    """What is fixed per estimator object: name, version, task; plus its classes as a Python list."""

    __slots__ = ("classes", "classes_list", "classifier", "generation", "name", "row_plan", "span_name",
                 "static", "task", "version")

    def __init__(self, estimator: Any) -> None:
        info = _models.model_info(estimator)
        self.name = info.name if info else type(estimator).__name__
        self.version = info.version if info else None
        self.task = _task(estimator)
        self.classifier = self.task == "classification"
        self.span_name = f"{OPERATION_INFERENCE} {self.name}"
        self.static: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_INFERENCE, ML_MODEL_NAME: self.name,
                                       ML_MODEL_FRAMEWORK: "sklearn"}
        if self.version is not None:
            self.static[ML_MODEL_VERSION] = self.version
        if self.task is not None:
            self.static[ML_MODEL_TASK] = self.task
        self.generation = _models.generation
        self.classes: Any = None
        self.classes_list: list[Any] = []
        # (feature names object, input shape, config, attribute keys): the last single numeric row's plan.
        self.row_plan: tuple[Any, tuple[int, ...], OtelmlConfig, list[str]] | None = None

    def class_list(self, estimator: Any) -> list[Any] | None:
        """``estimator.classes_`` as a list, converted again only when the estimator was refitted."""
        classes = getattr(estimator, "classes_", None)
        if classes is not self.classes:
            self.classes = classes
            self.classes_list = classes.tolist() if isinstance(classes, np.ndarray) else list(classes or ())
        return self.classes_list if classes is not None else None


_TASKS = {"classifier": "classification", "regressor": "regression", "clusterer": "clustering",
          "outlier_detector": "outlier_detection", "density_estimator": "density_estimation"}
# id(estimator) -> (weak reference, model info): a plain dict lookup on the hot path; the weak reference
# both confirms the id was not reused and drops the entry when the estimator is collected.
_models_by_id: dict[int, tuple[weakref.ref[Any], _Model]] = {}


def _task(estimator: Any) -> str | None:
    try:
        from sklearn.utils import get_tags

        return _TASKS.get(get_tags(estimator).estimator_type or "")
    except Exception:
        return _TASKS.get(getattr(estimator, "_estimator_type", "") or "")


def _model(estimator: Any) -> _Model:
    entry = _models_by_id.get(id(estimator))
    if entry is not None and entry[0]() is estimator and entry[1].generation == _models.generation:
        return entry[1]
    model = _Model(estimator)
    key = id(estimator)
    try:
        ref = weakref.ref(estimator, lambda _, key=key: _models_by_id.pop(key, None))  # type: ignore[misc]
    except TypeError:  # not weakly referenceable: no cache
        return model
    _models_by_id[key] = (ref, model)
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
    """(predicted value, score) from what the user's call returned; never calls the model again.

    A single row gives Python scalars (the hot path: one ``tolist()``), a batch gives arrays.
    """
    if method == "predict":
        if type(result) is tuple and result:  # predict(X, return_std=True) and the like
            result = result[0]
        if type(result) is np.ndarray and result.shape == (1,) and result.dtype.kind in "biuf":
            return result.tolist()[0], None
        return result, None
    if not model.classifier or type(result) is not np.ndarray:
        return (result, None) if method == "decision_function" else (None, None)
    classes = getattr(estimator, "classes_", None)
    classes = model.classes_list if classes is model.classes else model.class_list(estimator)
    if method == "decision_function":
        if classes is None:
            return None, None
        if result.ndim == 1 and len(classes) == 2:
            return np.asarray(classes, dtype=object)[(result > 0).astype(np.intp)], None
        if result.ndim == 2 and result.shape[1] == len(classes):
            return np.asarray(classes, dtype=object)[result.argmax(axis=1)], None
        return None, None
    if result.ndim != 2 or (classes is not None and len(classes) != result.shape[1]):
        return None, None
    if result.shape[0] == 1:
        row = result.tolist()[0]
        if method == "predict_log_proba":
            row = [math.exp(v) for v in row]
        best = row.index(max(row))
        return (classes[best] if classes is not None else best), (row[1] if len(row) == 2 else row[best])
    proba = np.exp(result) if method == "predict_log_proba" else result
    best_idx = proba.argmax(axis=1)
    value = np.asarray(classes, dtype=object)[best_idx] if classes is not None else best_idx
    score = proba[:, 1] if proba.shape[1] == 2 else proba[np.arange(len(proba)), best_idx]
    return value, score


class Hooks(NamedTuple):
    tracer: trace.Tracer
    request_hook: Any
    response_hook: Any


hooks: Hooks | None = None


def _log(model: _Model, pid: str, log_body: dict[str, Any]) -> None:
    attrs = {ML_MODEL_NAME: model.name, ML_PREDICTION_ID: pid}
    if model.version is not None:
        attrs[ML_MODEL_VERSION] = model.version
    _telemetry.emit_prediction_log(_get_current(), attrs, log_body)


def _fail(span: Any, pid: str, model: _Model, config: OtelmlConfig, seconds: float, error: BaseException,
          log_body: dict[str, Any] | None) -> None:
    """The model raised: exception and error status on the span, duration with ``error.type``."""
    try:
        if span.is_recording():
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__qualname__}: {error}"))
        if config.metrics:
            _telemetry.record_duration(model.name, model.version, seconds, error, span.get_span_context())
        if log_body is not None:
            _log(model, pid, log_body)
    except Exception as exc:
        log_once("recording the end of the inference span", exc)


def _end(span: Any, token: Any) -> None:
    try:
        span.end()
    except Exception as exc:
        log_once("ending the inference span", exc)
    finally:
        try:
            _detach(token)
        except Exception as exc:  # a token of another context (the API's detach logs it too)
            log_once("detaching the inference span's context", exc)


def _features(model: _Model, X: Any, names: Any, config: OtelmlConfig) -> tuple[dict[str, Any], Any]:
    """Feature attributes and captured rows; remembers the plan of a single numeric row on ``model``."""
    keys = row_keys(X, names, config)
    if keys is not None:
        model.row_plan = (names, X.shape, config, keys)
    return feature_attributes(X, names, config)


def quiet(method: str, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Run a training method with prediction spans off for every call it makes."""
    if _inside.get():
        return wrapped(instance, *args, **kwargs)
    token = _inside.set(True)
    try:
        return wrapped(instance, *args, **kwargs)
    finally:
        _inside.reset(token)


def make(method: str, wrapped: Any) -> Any:
    """The replacement of one prediction method: one ``inference`` span per call that is not nested in
    another instrumented call (nested calls pass straight through).

    Everything on the way of a prediction is in this one function (the scope, label memory and metrics
    helpers aside): every Python call it saves is measured in ``benchmarks/bench_overhead.py``.
    """

    @functools.wraps(wrapped)
    def wrapper(instance: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside_get():
            return wrapped(instance, *args, **kwargs)
        state = hooks
        if state is None:
            return wrapped(instance, *args, **kwargs)
        ctx = _get_current()
        if ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN):
            return wrapped(instance, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")

        try:
            config = _config._active or get_config()
            entry = _models_by_id.get(id(instance))
            if entry is not None and entry[0]() is instance and entry[1].generation == _models.generation:
                model = entry[1]
            else:
                model = _model(instance)
            try:
                state_dict = instance.__dict__
            except AttributeError:  # an estimator with __slots__
                state_dict = _EMPTY
            names = state_dict.get("feature_names_in_")
            if names is None and "steps" in state_dict:  # a Pipeline: the names of its first real step
                names = _feature_names(instance)
            plan = model.row_plan
            try:
                if (type(X) is _ndarray and plan is not None and plan[2] is config and plan[0] is names
                        and X.shape == plan[1] and X.dtype.kind in _NUMERIC):
                    # The same single numeric row as last time: attribute values in one tolist().
                    attrs, rows = dict(zip(plan[3], X.ravel().tolist(), strict=False)), None
                else:
                    attrs, rows = _features(model, X, names, config)
            except Exception as exc:
                log_once("capturing inference features", exc)
                attrs, rows = {}, None
            log_body = {"features": dict(attrs)} if config.log_predictions else None
            attrs.update(model.static)

            # The span, in the prediction scope (as InferenceSpan.__enter__ does).
            pid, holder = _scope.resolve(ctx)
            fresh = pid is None
            if pid is None:
                pid = "%032x" % _getrandbits(128)  # noqa: UP031 - _scope.new_prediction_id, inlined
                if holder is not None:
                    holder.id = pid
            attrs[ML_PREDICTION_ID] = pid
            start_ns = time_ns()
            span = state.tracer.start_span(model.span_name, ctx, attributes=attrs, start_time=start_ns)
            # The span's context in one copy (set_span_in_context + set_value would copy twice).
            new_ctx = Context(ctx)
            _dict_setitem(new_ctx, _SPAN_KEY, span)
            if holder is None:  # nested otelml spans read the id from the context
                _dict_setitem(new_ctx, _scope.SCOPE_KEY, pid)
            ctx_token = _attach(new_ctx)
        except Exception as exc:
            log_once("starting the inference span", exc)
            return wrapped(instance, *args, **kwargs)

        span_context = span.get_span_context()
        try:  # from here on the span is current: a failure must not skip ending it
            if span_context[_TRACE_FLAGS] & _SAMPLED:  # recorded and exported: worth linking a label to
                # A root inference span ends its trace in this process: nothing later could look it up.
                if fresh and holder is None and ctx.get(_SPAN_KEY) is not None:
                    _scope.remember_for_trace(span_context.trace_id, pid)
                _labels.remember_prediction(pid, span_context, start_ns, model.name, model.version)
        except Exception as exc:
            log_once("remembering the prediction for labels", exc)
        if state.request_hook is not None:
            try:
                state.request_hook(span, instance, method, X)
            except Exception as exc:
                log_once("request_hook", exc)

        token = _inside_set(True)
        started = perf_counter()
        try:
            result = wrapped(instance, *args, **kwargs)
        except BaseException as exc:
            seconds = perf_counter() - started
            _inside_reset(token)
            _fail(span, pid, model, config, seconds, exc, log_body)
            _end(span, ctx_token)
            raise
        seconds = perf_counter() - started
        _inside_reset(token)

        try:
            value, score = _outputs(model, instance, method, result)
            if value is not None:
                kind = type(value)
                # prediction_attributes' own first case, inlined (per prediction): one numeric row
                if (rows is None and (kind is int or kind is float)
                        and (score is None or type(score) is float)):
                    prediction = {ML_PREDICTION_VALUE: value}
                    if score is not None:
                        prediction[ML_PREDICTION_SCORE] = score
                else:
                    prediction = prediction_attributes(value, score, rows, config)
                span.set_attributes(prediction)
                if log_body is not None:
                    log_body["prediction"] = prediction
            if config.metrics:
                _telemetry.record_inference(model.name, model.version, model.task, value, seconds,
                                            span_context)
            if log_body is not None:
                _log(model, pid, log_body)
        except Exception as exc:
            log_once("recording the prediction", exc)
        if state.response_hook is not None:
            try:
                state.response_hook(span, instance, method, result)
            except Exception as exc:
                log_once("response_hook", exc)
        # _end(span, ctx_token), inlined on the success path
        try:
            span.end()
        except Exception as exc:
            log_once("ending the inference span", exc)
        try:
            _detach(ctx_token)
        except Exception as exc:  # a token of another context (the API's detach logs it too)
            log_once("detaching the inference span's context", exc)
        return result

    wrapper.__otelml_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper
