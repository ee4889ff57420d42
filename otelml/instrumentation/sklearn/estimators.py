"""What the shared inference path (``otelml._inference``) needs to know about scikit-learn estimators.

One user call of a prediction method -> one ``inference {model}`` span; nested calls (a Pipeline calling
its steps, ``predict`` calling ``decision_function``, a subclass calling ``super().predict``) add none.
The estimator wrappers of XGBoost and LightGBM (``XGBClassifier``, ``LGBMClassifier``, ...) are described
the same way, with their own framework name, by their instrumentors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from otelml._inference import Description, Framework, Model, make_wrapper, quiet

__all__ = ["FRAMEWORK", "describe", "describe_wrapper", "make", "outputs", "quiet", "task"]


def task(estimator: Any) -> str | None:
    """``classification`` | ``regression`` | ... from the estimator's sklearn tags."""
    try:
        from sklearn.utils import get_tags

        return _TASKS.get(get_tags(estimator).estimator_type or "")
    except Exception:
        return _TASKS.get(getattr(estimator, "_estimator_type", "") or "")


_TASKS = {"classifier": "classification", "regressor": "regression", "clusterer": "clustering",
          "outlier_detector": "outlier_detection", "density_estimator": "density_estimation"}


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


def outputs(model: Model, estimator: Any, method: str, result: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> tuple[Any, Any]:
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


def describe(estimator: Any) -> Description:
    """A scikit-learn estimator: names from ``feature_names_in_`` (a Pipeline's: its first real step's)."""
    state = getattr(estimator, "__dict__", {})
    inputs = _pipeline_inputs if "steps" in state else None
    return Description(type(estimator).__name__, task(estimator), "sklearn", inputs, outputs)


def describe_wrapper(estimator: Any, framework: str, inputs: Any) -> Description:
    """An estimator of another library with scikit-learn's interface (``XGBClassifier``, ...)."""
    return Description(type(estimator).__name__, task(estimator), framework, inputs, outputs)


def _pipeline_inputs(estimator: Any, X: Any) -> tuple[Any, Any]:
    return X, _feature_names(estimator)


FRAMEWORK = Framework("sklearn", "X", describe)


def make(method: str, wrapped: Any) -> Any:
    """The replacement of one scikit-learn prediction method."""
    return make_wrapper(FRAMEWORK, method, wrapped)
