"""The otelml span operations: ``feature_lookup``, ``inference`` and ``postprocess``.

Each is a context manager (``with``/``async with``) yielding a handle, and a decorator for sync and async
functions (a fresh span per call). Entering resolves the prediction id (see :mod:`otelml._scope`), starts
the span with all attributes known so far in one dict, and makes it current; leaving records an
exception (error status, same exception re-raised), records metrics inside the span, and ends it.
otelml's own failures are logged once per site and never reach the caller.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span

from otelml import _config, _errors, _lifecycle, _models, _telemetry
from otelml._inference import log_prediction, remember, static_attributes
from otelml.semconv import (
    ML_DECISION,
    ML_DEPLOYMENT_ROLE,
    ML_FEATURE_NAMES,
    ML_FEATURE_STORE_NAME,
    ML_FEATURE_VIEW_FRESHNESS,
    ML_FEATURE_VIEW_NAME,
    ML_FEATURE_VIEW_VERSION,
    ML_MODEL_FRAMEWORK,
    ML_OPERATION_NAME,
    ML_POSTPROCESS_STEP,
    ML_SEGMENT_PREFIX,
    OPERATION_FEATURE_LOOKUP,
    OPERATION_INFERENCE,
    OPERATION_POSTPROCESS,
    normalize_feature_name,
)

_capture: Any = None


def _capture_module() -> Any:
    """``otelml._capture``, imported on first use (it needs numpy, which plain ``import otelml`` doesn't)."""
    global _capture
    if _capture is None:
        from otelml import _capture as module

        _capture = module
    return _capture

__all__ = [
    "FeatureLookupSpan",
    "InferenceSpan",
    "PostprocessSpan",
    "feature_lookup",
    "inference",
    "postprocess",
]

F = TypeVar("F", bound=Callable[..., Any])
_INVALID = trace.INVALID_SPAN
_perf = time.perf_counter


class _OperationSpan:
    """Base of the span handles. Not re-entrant: each ``with`` or decorated call uses its own instance."""

    __slots__ = ("_attributes", "_name", "_span", "_token", "_tracer", "prediction_id")

    def __init__(self, name: str, attributes: dict[str, Any], tracer: trace.Tracer | None = None) -> None:
        self._name = name
        self._attributes = attributes
        self._tracer = tracer
        self._span: Span = _INVALID
        self._token: object | None = None
        self.prediction_id: str | None = None
        """The ``ml.prediction.id`` of this span (set on entering)."""

    @property
    def span(self) -> Span:
        """The underlying OTel span (a non-recording span outside the block or without a provider)."""
        return self._span

    def _clone(self) -> _OperationSpan:
        raise NotImplementedError

    def _before_start(self) -> None:
        """Hook: add attributes to ``self._attributes`` before the span starts."""

    def _after_start(self, span: Span, pid: str, start_ns: int) -> None:
        """Hook: runs once the span is current (``start_ns``: the span's start time)."""

    def _before_end(self, error: BaseException | None) -> None:
        """Hook: runs inside the span before it ends (metrics, logs)."""

    def __enter__(self) -> Any:
        try:
            self._before_start()
            tracer = self._tracer or _telemetry._tracer or _telemetry.tracer()
            span, self._token, pid, start_ns = _lifecycle.start(tracer, self._name, self._attributes,
                                                                _lifecycle.get_current())
            self._span = span
            self.prediction_id = pid
            self._after_start(span, pid, start_ns)
        except Exception as exc:
            _errors.log_once(f"starting the {self._name!r} span", exc)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> Literal[False]:
        span = self._span
        if exc is not None:
            _lifecycle.fail(span, exc)
        try:
            self._before_end(exc)
        except Exception as err:
            _errors.log_once(f"recording the end of the {self._name!r} span", err)
        token, self._token = self._token, None
        _lifecycle.end(span, token)
        return False

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: Any) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async): each call runs in a new span of this operation."""
        clone = self._clone
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with clone():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with clone():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def set_attribute(self, key: str, value: Any) -> None:
        """Set any attribute on the span (ignored outside the block or when not recording)."""
        try:
            self._span.set_attribute(key, value)
        except Exception as exc:
            _errors.log_once("set_attribute", exc)


_static_inference: dict[tuple[str, str | None, str | None, str | None], tuple[str, dict[str, Any]]] = {}


def _inference_static(model: str, version: str | None, framework: str | None,
                      task: str | None) -> tuple[str, dict[str, Any]]:
    """Span name and fixed attributes of one model (cached; the cache is reset past 1,024 models)."""
    if len(_static_inference) >= 1024:
        _static_inference.clear()
    static = _static_inference[(model, version, framework, task)] = (
        f"{OPERATION_INFERENCE} {model}", static_attributes(model, version, framework, task))
    return static


class InferenceSpan(_OperationSpan):
    """Handle of an ``inference {model}`` span: features, prediction and segments of one model call."""

    __slots__ = ("_config", "_log_body", "_model", "_pending", "_rows", "_t0", "_task", "_version")

    def __init__(self, model: str, version: str | None = None, framework: str | None = None,
                 task: str | None = None, features: Any = None, feature_names: Sequence[str] | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        """Instrumentors may construct this directly (``tracer`` = their ``instrument(tracer_provider=)``
        tracer) and call ``__enter__``/``set_prediction``/``__exit__`` around the model call."""
        key = (model, version, framework, task)
        static = _static_inference.get(key)
        if static is None:
            static = _inference_static(*key)
        super().__init__(static[0], dict(static[1]), tracer)
        self._model, self._version, self._task = model, version, task
        self._rows: Any = None
        self._log_body: dict[str, Any] | None = None
        self._config = _config._active or _config.get_config()
        self._t0 = 0.0
        # Captured just before the span starts, so all attributes go into one start_span call.
        self._pending = None if features is None else (features, feature_names)

    def _clone(self) -> InferenceSpan:
        framework = self._attributes.get(ML_MODEL_FRAMEWORK)
        clone = InferenceSpan(self._model, self._version, framework, self._task, tracer=self._tracer)
        if ML_DEPLOYMENT_ROLE in self._attributes:
            clone._attributes[ML_DEPLOYMENT_ROLE] = self._attributes[ML_DEPLOYMENT_ROLE]
        return clone

    def _before_start(self) -> None:
        if self._pending is not None:
            X, names = self._pending
            self._pending = None
            try:
                self._attributes.update(self._feature_attributes(X, names))
            except Exception as exc:
                _errors.log_once("capturing inference features", exc)

    def _after_start(self, span: Span, pid: str, start_ns: int) -> None:
        remember(span, pid, start_ns, self._model, self._version)
        self._t0 = _perf()

    def _feature_attributes(self, X: Any, feature_names: Sequence[str] | None) -> dict[str, Any]:
        attrs, self._rows = (_capture or _capture_module()).feature_attributes(X, feature_names, self._config)
        if self._config.log_predictions:
            self._log_body = {"features": attrs}
        return attrs

    def set_features(self, X: Any, feature_names: Sequence[str] | None = None) -> None:
        """Record the model inputs as ``ml.feature.<name>`` attributes (masked per the capture policy)."""
        try:
            attrs = self._feature_attributes(X, feature_names)
            if attrs:
                self._span.set_attributes(attrs)
        except Exception as exc:
            _errors.log_once("capturing inference features", exc)

    def set_prediction(self, value: Any, score: Any = None) -> None:
        """Record the output (``ml.prediction.value``/``.score``) and count it in ``ml.predictions``."""
        config = self._config
        try:
            attrs = (_capture or _capture_module()).prediction_attributes(value, score, self._rows, config)
            self._span.set_attributes(attrs)
            if config.log_predictions:
                self._log_body = {**(self._log_body or {}), "prediction": attrs}
        except Exception as exc:
            _errors.log_once("capturing the inference prediction", exc)
        if config.metrics:
            try:
                if _telemetry.metrics_live():
                    _telemetry.record_predictions(self._model, self._version, value, self._task)
            except Exception as exc:
                _errors.log_once("recording ml.predictions", exc)

    def set_segment(self, key: str, value: Any) -> None:
        """Tag the call with a cohort key: ``ml.segment.<key>`` = ``str(value)``."""
        try:
            self._span.set_attribute(ML_SEGMENT_PREFIX + normalize_feature_name(key), str(value))
        except Exception as exc:
            _errors.log_once("set_segment", exc)

    def _before_end(self, error: BaseException | None) -> None:
        config = self._config
        if config.metrics and self._t0:
            _telemetry.record_duration(self._model, self._version, _perf() - self._t0, error,
                                       self._span.get_span_context())
        if config.log_predictions and self._log_body is not None:
            log_prediction(self._model, self._version, self.prediction_id, self._log_body)


class FeatureLookupSpan(_OperationSpan):
    """Handle of a ``feature_lookup {view}`` span: lineage of the features served."""

    __slots__ = ("_args",)

    def __init__(self, view: str, store: str | None = None, version: str | None = None,
                 feature_names: Sequence[str] | None = None, freshness: float | None = None) -> None:
        attrs: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_FEATURE_LOOKUP, ML_FEATURE_VIEW_NAME: view}
        if store is not None:
            attrs[ML_FEATURE_STORE_NAME] = store
        if version is not None:
            attrs[ML_FEATURE_VIEW_VERSION] = str(version)
        if feature_names is not None:
            attrs[ML_FEATURE_NAMES] = [str(n) for n in feature_names]
        if freshness is not None:
            attrs[ML_FEATURE_VIEW_FRESHNESS] = float(freshness)
        super().__init__(f"feature_lookup {view}", attrs)
        self._args = (view, store, version, feature_names, freshness)

    def _clone(self) -> FeatureLookupSpan:
        return FeatureLookupSpan(*self._args)

    def set_feature_names(self, names: Sequence[str]) -> None:
        """The features served (``ml.feature.names``)."""
        self.set_attribute(ML_FEATURE_NAMES, [str(n) for n in names])

    def set_freshness(self, seconds: float) -> None:
        """Age in seconds of the oldest value served (``ml.feature_view.freshness``)."""
        try:
            self._span.set_attribute(ML_FEATURE_VIEW_FRESHNESS, float(seconds))
        except Exception as exc:
            _errors.log_once("set_freshness", exc)


class PostprocessSpan(_OperationSpan):
    """Handle of a ``postprocess {step}`` span: a business rule applied to a model output."""

    __slots__ = ("_step",)

    def __init__(self, step: str, decision: str | None = None) -> None:
        attrs: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_POSTPROCESS, ML_POSTPROCESS_STEP: step}
        if decision is not None:
            attrs[ML_DECISION] = str(decision)
        super().__init__(f"postprocess {step}", attrs)
        self._step = step

    def _clone(self) -> PostprocessSpan:
        return PostprocessSpan(self._step)

    def set_decision(self, decision: Any) -> None:
        """The final decision (``ml.decision``)."""
        self.set_attribute(ML_DECISION, str(decision))


def _name(value: object, arg: str, op: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"otelml.{op}: {arg} must be a non-empty string, got {value!r}")


def inference(model: str, version: str | None = None, *, framework: str | None = None,
              task: str | None = None, features: Any = None,
              feature_names: Sequence[str] | None = None, role: str | None = None) -> InferenceSpan:
    """An ``inference {model}`` span. ``features=`` captures inputs at start (cheapest); or call
    ``set_features`` / ``set_prediction`` on the handle ``with`` yields. ``role`` (``primary``,
    ``shadow``, ``canary``) sets ``ml.deployment.role``."""
    if type(model) is not str or not model:
        model = _name(model, "model", "inference")
    span = InferenceSpan(model, None if version is None else str(version),
                         framework, task, features, feature_names)
    if role is not None:
        if role not in _models.ROLES:
            roles = ", ".join(_models.ROLES)
            raise ValueError(f"otelml.inference: role must be one of {roles}, got {role!r}")
        span._attributes[ML_DEPLOYMENT_ROLE] = role
    return span


def feature_lookup(view: str, store: str | None = None, version: str | None = None, *,
                   feature_names: Sequence[str] | None = None, freshness: float | None = None,
                   ) -> FeatureLookupSpan:
    """A ``feature_lookup {view}`` span with feature-store lineage."""
    return FeatureLookupSpan(_name(view, "view", "feature_lookup"), store, version, feature_names, freshness)


def postprocess(step: str, *, decision: str | None = None) -> PostprocessSpan:
    """A ``postprocess {step}`` span; record the outcome with ``set_decision``."""
    return PostprocessSpan(_name(step, "step", "postprocess"), decision)
