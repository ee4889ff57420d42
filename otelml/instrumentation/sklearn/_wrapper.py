"""One user call of a prediction method -> one ``inference {model}`` span.

Nested calls (a Pipeline calling its steps, ``predict`` calling ``decision_function``, a subclass calling
``super().predict``) run inside the outer call's context and add no span. Every step of the telemetry is
guarded: a failure is logged once per site and the model call goes on untouched.
"""

from __future__ import annotations

import math
import weakref
from contextvars import ContextVar
from typing import Any, NamedTuple

import numpy as np
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otelml import _models
from otelml._errors import log_once
from otelml._spans import InferenceSpan

_inside: ContextVar[bool] = ContextVar("otelml_sklearn_inside", default=False)


class _Model:
    """What is fixed per estimator object: name, version, task; plus its classes as a Python list."""

    __slots__ = ("classes", "classes_list", "classifier", "generation", "name", "task", "version")

    def __init__(self, estimator: Any) -> None:
        info = _models.model_info(estimator)
        self.name = info.name if info else type(estimator).__name__
        self.version = info.version if info else None
        self.task = _task(estimator)
        self.classifier = self.task == "classification"
        self.generation = _models.generation
        self.classes: Any = None
        self.classes_list: list[Any] = []

    def class_list(self, estimator: Any) -> list[Any] | None:
        """``estimator.classes_`` as a list, converted again only when the estimator was refitted."""
        classes = getattr(estimator, "classes_", None)
        if classes is not self.classes:
            self.classes = classes
            self.classes_list = classes.tolist() if isinstance(classes, np.ndarray) else list(classes or ())
        return self.classes_list if classes is not None else None


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
    model = _Model(estimator)
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
    """(predicted value, score) from what the user's call returned; never calls the model again.

    A single row gives Python scalars (the hot path: one ``tolist()``), a batch gives arrays.
    """
    if method == "predict":
        if type(result) is np.ndarray and result.shape == (1,) and result.dtype.kind in "biuf":
            return result.tolist()[0], None
        return result, None
    if not model.classifier or type(result) is not np.ndarray:
        return (result, None) if method == "decision_function" else (None, None)
    classes = model.class_list(estimator)
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

    try:
        model = _model(instance)
        # Features go in at construction so the span starts with all its attributes in one dict.
        span = InferenceSpan(model.name, model.version, "sklearn", model.task, X, _feature_names(instance))
        span.__enter__()
    except Exception as exc:
        log_once("starting the inference span", exc)
        return wrapped(*args, **kwargs)

    if state.request_hook is not None:
        try:
            state.request_hook(span.span, instance, method, X)
        except Exception as exc:
            log_once("request_hook", exc)

    token = _inside.set(True)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _inside.reset(token)
        span.__exit__(type(exc), exc, exc.__traceback__)
        raise
    _inside.reset(token)

    try:
        value, score = _outputs(model, instance, method, result)
        if value is not None:
            span.set_prediction(value, score)
    except Exception as exc:
        log_once("recording the prediction", exc)
    if state.response_hook is not None:
        try:
            state.response_hook(span.span, instance, method, result)
        except Exception as exc:
            log_once("response_hook", exc)
    span.__exit__(None, None, None)
    return result
