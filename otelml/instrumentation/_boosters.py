"""Prediction value and score of a native gradient-boosting booster (XGBoost, LightGBM), by objective.

A booster returns numbers whose meaning depends on its training objective: the positive-class probability
(binary), one probability per class (multi-class), a class index, or a regression value. The objective is
read once per booster; each call's output is then turned into ``ml.prediction.value`` (the class for a
classifier, as the scikit-learn wrappers predict it) and ``ml.prediction.score`` (the probability of the
positive class for a binary classifier, of the predicted class for a multi-class one). A call that asks
for something else (margins, leaf indices, feature contributions) records no prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from otelml._inference import Model, Outputs

__all__ = ["BINARY", "CLASS", "MARGIN", "MULTI", "RANKING", "REGRESSION", "TASKS", "outputs_for"]

BINARY = "binary"  # positive-class probability, one per row
MARGIN = "margin"  # a binary margin: class 1 when > 0, no score
MULTI = "multi"  # one probability per class and row
CLASS = "class"  # the class index itself
RANKING = "ranking"
REGRESSION = "regression"
TASKS = {BINARY: "classification", MARGIN: "classification", MULTI: "classification",
         CLASS: "classification", RANKING: "ranking", REGRESSION: "regression"}

Plain = Callable[[str, tuple[Any, ...], dict[str, Any]], bool]
"""(method, call args, call kwargs) -> True when the call returns ordinary predictions."""


def _binary(result: Any) -> tuple[Any, Any]:
    if result.ndim == 2 and result.shape[1] == 1:
        result = result[:, 0]
    if result.ndim != 1:
        return None, None
    if result.shape == (1,):
        p = result.tolist()[0]
        return int(p > 0.5), p
    return (result > 0.5).astype(np.int64), result


def _margin(result: Any) -> tuple[Any, Any]:
    if result.ndim != 1:
        return None, None
    if result.shape == (1,):
        return int(result.tolist()[0] > 0), None
    return (result > 0).astype(np.int64), None


def _multi(result: Any) -> tuple[Any, Any]:
    if result.ndim != 2:
        return None, None
    if result.shape[0] == 1:
        row = result.tolist()[0]
        best = row.index(max(row))
        return best, row[best]
    best_idx = result.argmax(axis=1)
    return best_idx, result[np.arange(len(result)), best_idx]


def _class(result: Any) -> tuple[Any, Any]:
    if result.ndim != 1:
        return None, None
    if result.shape == (1,):
        return int(result.tolist()[0]), None
    return result.astype(np.int64), None


def _value(result: Any) -> tuple[Any, Any]:
    if result.shape == (1,):
        return result.tolist()[0], None
    return result, None


_READERS: dict[str | None, Callable[[Any], tuple[Any, Any]]] = {
    BINARY: _binary, MARGIN: _margin, MULTI: _multi, CLASS: _class, RANKING: _value, REGRESSION: _value,
    None: _value,
}


def outputs_for(kind: str | None, plain: Plain) -> Outputs:
    """The outputs reader of a booster whose objective is of ``kind`` (None: unknown, values as returned)."""
    read = _READERS[kind]

    def outputs(model: Model, booster: Any, method: str, result: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[Any, Any]:
        if type(result) is not np.ndarray or ((kwargs or len(args) > 1) and not plain(method, args, kwargs)):
            return None, None
        return read(result)

    return outputs
