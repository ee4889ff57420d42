"""XGBoost instrumentation: every prediction of a ``Booster`` or an XGBoost estimator becomes a span.

What is traced
--------------
Each user call of ``Booster.predict`` (a ``DMatrix``), ``Booster.inplace_predict`` (numpy, pandas, sparse
input), and ``predict`` / ``predict_proba`` of the scikit-learn interface (``XGBClassifier``,
``XGBRegressor``, ``XGBRanker``, ``XGBRF*``) produces exactly one ``inference {model}`` span - the
estimator's call into its booster adds none, and neither does the scikit-learn instrumentor, which leaves
XGBoost's classes to this one. Attributes, as for scikit-learn (docs/integrations/xgboost.md):

- ``ml.model.framework`` = ``xgboost``; ``ml.model.name``: the registered name (``otelml.register_model``,
  or the MLflow registry name of a model loaded with the MLflow instrumentor on), else ``xgboost.Booster``
  or the estimator's class name; ``ml.model.version`` and ``ml.model.run_id`` when registered;
- ``ml.model.task`` from the booster's objective (``binary:*``, ``multi:*`` -> ``classification``,
  ``rank:*`` -> ``ranking``, others ``regression``) or the estimator's type;
- ``ml.feature.<name>`` per input column, masked per the capture policy: names from the ``DMatrix``'s
  ``feature_names``, a DataFrame's columns, else the booster's feature names, else ``f0..fN``; values of a
  ``DMatrix`` are read back from it (missing entries as NaN);
- ``ml.prediction.value`` / ``ml.prediction.score``: for a binary booster the class (probability > 0.5)
  and the positive-class probability; for ``multi:softprob`` the argmax class and its probability; the
  class or value otherwise. Calls for margins, leaf indices or contributions (``output_margin=True``,
  ``pred_leaf=True``, ``pred_contribs=True``, ``predict_type="margin"``) record no prediction.

The result is returned untouched; the model's exceptions reach the caller unchanged (the span gets status
ERROR); a failure inside the instrumentation is logged once and never reaches your code.

Example
-------
.. code-block:: python

    import otelml.auto                      # or XGBoostInstrumentor().instrument()
    booster = xgboost.train(params, dtrain)
    booster.predict(xgboost.DMatrix(X[:1], feature_names=names))   # -> span "inference xgboost.Booster"
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelml import __version__
from otelml._errors import log_once
from otelml._inference import Description, Framework, Hooks, make_wrapper
from otelml.instrumentation import _boosters
from otelml.instrumentation._methods import MethodPatches, when_imported
from otelml.instrumentation.sklearn.estimators import describe_wrapper
from otelml.instrumentation.xgboost.package import _instruments

__all__ = ["XGBoostInstrumentor"]

_NOT_PREDICTIONS = ("output_margin", "pred_leaf", "pred_contribs", "approx_contribs", "pred_interactions")


def _kind(objective: str) -> str:
    if objective == "binary:logistic":
        return _boosters.BINARY
    if objective == "binary:logitraw":
        return _boosters.MARGIN
    if objective in ("binary:hinge", "multi:softmax"):
        return _boosters.CLASS
    if objective == "multi:softprob":
        return _boosters.MULTI
    if objective.startswith("rank:"):
        return _boosters.RANKING
    return _boosters.REGRESSION


def _plain(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if method == "inplace_predict":
        return kwargs.get("predict_type", "value") == "value"
    return not any(kwargs.get(k) for k in _NOT_PREDICTIONS)


def dense(dmatrix: Any) -> np.ndarray:
    """A ``DMatrix``'s values as a 2-D float array, missing entries as NaN."""
    csr = dmatrix.get_data()
    out = np.full(csr.shape, np.nan)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    out[rows, csr.indices] = csr.data
    return out


def _dmatrix_inputs(booster: Any, X: Any) -> tuple[Any, Any]:
    if hasattr(X, "get_data") and hasattr(X, "feature_names"):
        return dense(X), X.feature_names
    return X, booster.feature_names


def _describe_booster(booster: Any, inputs: Any = None) -> Description:
    kind: str | None = None
    try:
        kind = _kind(json.loads(booster.save_config())["learner"]["objective"]["name"])
    except Exception as exc:
        log_once("reading the XGBoost booster's objective", exc)
    return Description("xgboost.Booster", _boosters.TASKS.get(kind or ""), "xgboost", inputs,
                       _boosters.outputs_for(kind, _plain), booster.feature_names)


def _estimator_inputs(estimator: Any, X: Any) -> tuple[Any, Any]:
    try:
        return X, estimator.get_booster().feature_names
    except Exception:
        return X, None


BOOSTER = Framework("xgboost", "data", _describe_booster)  # inplace_predict: numpy, pandas, sparse
DMATRIX = Framework("xgboost", "data", lambda booster: _describe_booster(booster, _dmatrix_inputs))
ESTIMATOR = Framework("xgboost", "X", lambda est: describe_wrapper(est, "xgboost", _estimator_inputs))
_patches = MethodPatches()


def _patch(xgboost: Any) -> None:
    if BOOSTER.hooks is None:  # uninstrumented before the application imported XGBoost
        return
    from xgboost import sklearn as xgb_sklearn

    _patches.patch([xgboost.Booster], ("predict",), lambda method, fn: make_wrapper(DMATRIX, method, fn))
    _patches.patch([xgboost.Booster], ("inplace_predict",),
                   lambda method, fn: make_wrapper(BOOSTER, method, fn))
    estimators = [cls for cls in vars(xgb_sklearn).values()
                  if isinstance(cls, type) and issubclass(cls, xgb_sklearn.XGBModel)]
    _patches.patch(estimators, ("predict", "predict_proba"),
                   lambda method, fn: make_wrapper(ESTIMATOR, method, fn))


class XGBoostInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces XGBoost predictions as ``inference {model}`` spans (see the module docstring).

    ``instrument(tracer_provider=None, request_hook=None, response_hook=None)``: the hooks are called as
    ``request_hook(span, model, method_name, X)`` and ``response_hook(span, model, method_name, result)``.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        hooks = Hooks(trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider")),
                      kwargs.get("request_hook"), kwargs.get("response_hook"))
        BOOSTER.hooks = DMATRIX.hooks = ESTIMATOR.hooks = hooks
        when_imported("xgboost", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        _patches.restore()
        BOOSTER.hooks = DMATRIX.hooks = ESTIMATOR.hooks = None
