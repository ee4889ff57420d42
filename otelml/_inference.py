"""The inference path every model instrumentor shares: one user call -> one ``inference {model}`` span.

An instrumentor describes its library with a :class:`Framework` (the framework name, where the input is
in the call, and a ``describe`` function giving each model's task, feature-name source and output reader)
and wraps each prediction method with :func:`make_wrapper`. The wrapper:

- passes straight through when instrumentation is off or suppressed, and for calls nested in another
  instrumented call of any framework (a Pipeline's steps, ``XGBClassifier.predict_proba`` calling
  ``Booster.inplace_predict``, an MLflow pyfunc model calling its scikit-learn model), or made during
  training (:func:`quiet`): ``_lifecycle.start`` marks the span's context with ``INSIDE_KEY``, so the mark
  costs no context switch of its own (the user's hooks run marked too);
- captures the input through ``otelml._capture`` (the capture policy), starts the span through
  ``otelml._lifecycle`` with every attribute in one call, runs the model, records the output, the
  metrics and the label memory, and ends the span.

``otelml.inference(...)`` (``InferenceSpan``) records through the same functions (:func:`static_attributes`,
:func:`remember`, ``_capture``, ``_telemetry``), so both give the same span for the same model and input.
Every step is guarded: a failure is logged once per site and the model call goes on untouched.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any, Final, NamedTuple

from opentelemetry import trace

from otelml import _config, _labels, _lifecycle, _models, _telemetry
from otelml._config import get_config
from otelml._errors import log_once
from otelml._lifecycle import INSIDE_KEY, SUPPRESS_KEY, SUPPRESS_KEY_PLAIN, get_current
from otelml.semconv import (
    ML_DEPLOYMENT_ROLE,
    ML_MODEL_FRAMEWORK,
    ML_MODEL_NAME,
    ML_MODEL_RUN_ID,
    ML_MODEL_TASK,
    ML_MODEL_VERSION,
    ML_OPERATION_NAME,
    ML_PREDICTION_ID,
    OPERATION_INFERENCE,
)

__all__ = ["Description", "Framework", "Hooks", "Model", "inside", "make_wrapper", "quiet",
           "static_attributes"]

# SpanContext is the tuple (trace id, span id, is remote, trace flags, trace state, is valid); an index is
# read in C where the `trace_flags.sampled` properties are two Python calls.
_TRACE_FLAGS: Final = 3
_SAMPLED: Final = 1
_NO_ARG: Any = object()  # the wrapper's first argument when the call passed none positionally

Outputs = Callable[["Model", Any, str, Any, tuple[Any, ...], dict[str, Any]], tuple[Any, Any]]
"""(model, instance, method, result, call args, call kwargs) -> (predicted value, score); never calls the
model. (None, None) when the call did not predict (leaf indices, contributions, margins...)."""
Inputs = Callable[[Any, Any], tuple[Any, Any]]
"""(instance, model input) -> (input as ``_capture`` reads it, or None; feature names or None)."""


class Hooks(NamedTuple):
    """What ``instrument()`` was given: the tracer and the user's hooks."""

    tracer: trace.Tracer
    request_hook: Any
    response_hook: Any


class Description(NamedTuple):
    """What a framework says about one model object."""

    name: str  # the model name when none was registered
    task: str | None
    framework: str
    inputs: Inputs | None  # when the input or its names need more than ``feature_names_in_`` / ``names``
    outputs: Outputs
    names: Any = None  # the model's feature names, when fixed for its lifetime (a booster's)


class Framework:
    """One instrumented library: its name, the input's argument, and how to describe its models."""

    __slots__ = ("describe", "hooks", "models", "name", "x_arg")

    def __init__(self, name: str, x_arg: str, describe: Callable[[Any], Description]) -> None:
        self.name = name
        self.x_arg = x_arg
        self.describe = describe
        # id(model object) -> (weak reference, Model): a plain dict lookup on the hot path; the weak
        # reference both confirms the id was not reused and drops the entry when the object is collected.
        self.models: dict[int, tuple[weakref.ref[Any], Model]] = {}
        self.hooks: Hooks | None = None
        """Set by the instrumentor's ``instrument()``; ``None`` turns its wrappers into pass-throughs."""


def static_attributes(name: str, version: str | None, framework: str | None, task: str | None,
                      run_id: str | None = None, role: str | None = None) -> dict[str, Any]:
    """The attributes fixed per model: operation, name, version, framework, task, run, deployment role."""
    attrs: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_INFERENCE, ML_MODEL_NAME: name}
    if version is not None:
        attrs[ML_MODEL_VERSION] = version
    if framework is not None:
        attrs[ML_MODEL_FRAMEWORK] = framework
    if task is not None:
        attrs[ML_MODEL_TASK] = task
    if run_id is not None:
        attrs[ML_MODEL_RUN_ID] = run_id
    if role is not None:
        attrs[ML_DEPLOYMENT_ROLE] = role
    return attrs


def remember(span: Any, pid: str, start_ns: int, model: str, version: str | None) -> Any:
    """After the span started: a sampled span is remembered for labels. Returns its span context."""
    span_context = span.get_span_context()
    if span_context[_TRACE_FLAGS] & _SAMPLED:  # recorded and exported: worth linking a label to
        _labels.remember_prediction(pid, span_context, start_ns, model, version)
    return span_context


def log_prediction(name: str, version: str | None, pid: str | None, body: dict[str, Any]) -> None:
    """The ``ml.prediction`` log record of one call (``OTELML_LOG_PREDICTIONS``)."""
    attrs = {ML_MODEL_NAME: name, ML_PREDICTION_ID: pid}
    if version is not None:
        attrs[ML_MODEL_VERSION] = version
    _telemetry.emit_prediction_log(get_current(), attrs, body)


class Model:
    """What is fixed per model object: name, version, run, task, attributes; its classes as a list."""

    __slots__ = ("classes", "classes_list", "classifier", "generation", "inputs", "name", "names", "outputs",
                 "span_name", "static", "task", "version")

    def __init__(self, instance: Any, framework: Framework) -> None:
        described = framework.describe(instance)
        info = _models.model_info(instance)
        self.name = info.name if info else described.name
        self.version = info.version if info else None
        self.task = described.task
        self.classifier = self.task == "classification"
        self.inputs = described.inputs
        self.outputs = described.outputs
        self.names = described.names
        self.span_name = f"{OPERATION_INFERENCE} {self.name}"
        self.static = static_attributes(self.name, self.version, described.framework, self.task,
                                        info.run_id if info else None, info.role if info else None)
        self.generation = _models.generation
        self.classes: Any = None
        self.classes_list: list[Any] = []

    def class_list(self, instance: Any) -> list[Any] | None:
        """``instance.classes_`` as a list, converted again only when the model was refitted."""
        classes = getattr(instance, "classes_", None)
        if classes is not self.classes:
            self.classes = classes
            self.classes_list = classes.tolist() if hasattr(classes, "tolist") else list(classes or ())
        return self.classes_list if classes is not None else None


def _model(instance: Any, framework: Framework) -> Model:
    model = Model(instance, framework)
    key = id(instance)
    models = framework.models
    try:
        ref = weakref.ref(instance, lambda _, key=key: models.pop(key, None))  # type: ignore[misc]
    except TypeError:  # not weakly referenceable: no cache
        return model
    models[key] = (ref, model)
    return model


def inside() -> bool:
    """True while an instrumented call (of any framework) or a training method runs in this context:
    predictions made now add no span."""
    return bool(get_current().get(INSIDE_KEY))


def quiet(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` with prediction spans off for every call it makes (training methods,
    work a joblib thread runs for an instrumented call)."""
    ctx = get_current()
    if ctx.get(INSIDE_KEY):
        return call(*args, **kwargs)
    token = _lifecycle.attach_inside(ctx)
    try:
        return call(*args, **kwargs)
    finally:
        try:
            _lifecycle.detach(token)
        except Exception as exc:  # a token of another context: the context is left as the call left it
            log_once("leaving a training method", exc)


def make_wrapper(framework: Framework, method: str, wrapped: Any) -> Any:
    """The replacement of one prediction method ``wrapped`` (an unbound function): one ``inference`` span
    per call that is not nested in another instrumented call.

    A single-row prediction is the common case: every Python call saved here is measured in
    ``benchmarks/bench_overhead_instructions.py``.
    """
    from otelml._capture import feature_attributes, prediction_attributes  # numpy: not on `import otelml`

    x_arg = framework.x_arg
    models = framework.models
    remember_prediction = _labels.remember_prediction

    @functools.wraps(wrapped)
    def wrapper(instance: Any, x: Any = _NO_ARG, /, *args: Any, **kwargs: Any) -> Any:
        # The common call, predict(X), reaches the model as wrapped(instance, x): forwarding *args and
        # **kwargs costs about 1,000 instructions more. Any other call keeps every argument in args/kwargs.
        if x is not _NO_ARG and (args or kwargs):
            args = (x, *args)
            x = _NO_ARG
        hooks = framework.hooks
        if hooks is None:
            return wrapped(instance, *args, **kwargs) if x is _NO_ARG else wrapped(instance, x)
        ctx = get_current()
        # nested in an instrumented call; is_instrumentation_enabled(), inlined
        if ctx.get(INSIDE_KEY) or ctx.get(SUPPRESS_KEY) or ctx.get(SUPPRESS_KEY_PLAIN):
            return wrapped(instance, *args, **kwargs) if x is _NO_ARG else wrapped(instance, x)
        X = x if x is not _NO_ARG else args[0] if args else kwargs.get(x_arg)

        try:
            config = _config._active or get_config()
            entry = models.get(id(instance))
            if entry is not None and entry[0]() is instance and entry[1].generation == _models.generation:
                model = entry[1]
            else:
                model = _model(instance, framework)
            try:
                names = instance.__dict__.get("feature_names_in_")
            except AttributeError:  # __slots__
                names = None
            features = X
            if names is None:
                names = model.names
                if model.inputs is not None:
                    features, names = model.inputs(instance, X)
            try:
                attrs, rows = ({}, None) if features is None else feature_attributes(features, names, config)
            except Exception as exc:
                log_once("capturing inference features", exc)
                attrs, rows = {}, None
            log_body = {"features": dict(attrs)} if config.log_predictions else None
            attrs.update(model.static)
            span, ctx_token, pid, start_ns = _lifecycle.start(hooks.tracer, model.span_name, attrs, ctx,
                                                              True)
        except Exception as exc:
            log_once("starting the inference span", exc)
            return wrapped(instance, *args, **kwargs) if x is _NO_ARG else wrapped(instance, x)

        try:  # from here on the span is current: a failure must not skip ending it
            span_context = span.get_span_context()  # remember(), without the call: per prediction
            if span_context[_TRACE_FLAGS] & _SAMPLED:
                remember_prediction(pid, span_context, start_ns, model.name, model.version)
        except Exception as exc:
            span_context = None
            log_once("remembering the prediction for labels", exc)
        if hooks.request_hook is not None:
            try:
                hooks.request_hook(span, instance, method, X)
            except Exception as exc:
                log_once("request_hook", exc)

        started = perf_counter()
        try:
            result = wrapped(instance, *args, **kwargs) if x is _NO_ARG else wrapped(instance, x)
        except BaseException as exc:
            seconds = perf_counter() - started
            _failed(span, pid, model, config, seconds, exc, log_body)
            _lifecycle.end(span, ctx_token)
            raise
        seconds = perf_counter() - started

        try:
            value, score = model.outputs(model, instance, method, result, args, kwargs)
            if value is not None:
                prediction = prediction_attributes(value, score, rows, config)
                span.set_attributes(prediction)
                if log_body is not None:
                    log_body["prediction"] = prediction
            if config.metrics:
                _telemetry.record_inference(model.name, model.version, model.task, value, seconds,
                                            span_context)
            if log_body is not None:
                log_prediction(model.name, model.version, pid, log_body)
        except Exception as exc:
            log_once("recording the prediction", exc)
        if hooks.response_hook is not None:
            try:
                hooks.response_hook(span, instance, method, result)
            except Exception as exc:
                log_once("response_hook", exc)
        _lifecycle.end(span, ctx_token)
        return result

    wrapper.__otelml_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _failed(span: Any, pid: str, model: Model, config: Any, seconds: float, error: BaseException,
            log_body: dict[str, Any] | None) -> None:
    """The model raised: exception and error status on the span, duration with ``error.type``."""
    _lifecycle.fail(span, error)
    try:
        if config.metrics:
            _telemetry.record_duration(model.name, model.version, seconds, error, span.get_span_context())
        if log_body is not None:
            log_prediction(model.name, model.version, pid, log_body)
    except Exception as exc:
        log_once("recording the end of the inference span", exc)
