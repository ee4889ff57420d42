"""LightGBM instrumentation: every prediction of a ``Booster`` or a LightGBM estimator becomes a span.

What is traced
--------------
Each user call of ``Booster.predict`` and of ``predict`` / ``predict_proba`` of the scikit-learn interface
(``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``) produces exactly one ``inference {model}`` span -
the estimator's call into its booster adds none, and neither does the scikit-learn instrumentor, which
leaves LightGBM's classes to this one. Attributes, as for scikit-learn (docs/integrations/lightgbm.md):

- ``ml.model.framework`` = ``lightgbm``; ``ml.model.name``: the registered name (``otelml.register_model``
  or the MLflow registry), else ``lightgbm.Booster`` or the estimator's class name;
- ``ml.model.task`` from the booster's objective (``binary``, ``multiclass``, ``multiclassova`` ->
  ``classification``, ``lambdarank``, ``rank_xendcg`` -> ``ranking``, others ``regression``);
- ``ml.feature.<name>`` per input column, masked per the capture policy: names from a DataFrame's
  columns, else the booster's ``feature_name()``; a booster trained without names (LightGBM calls its
  columns ``Column_<i>``) gives ``f0..fN``, as every other framework. A file path as input records no
  feature;
- ``ml.prediction.value`` / ``ml.prediction.score``: for ``binary`` the class (probability > 0.5) and the
  positive-class probability; for multi-class the argmax class and its probability; the value otherwise.
  ``raw_score=True``, ``pred_leaf=True`` or ``pred_contrib=True`` record no prediction.

The result is returned untouched; the model's exceptions reach the caller unchanged; a failure inside the
instrumentation is logged once and never reaches your code.

Example
-------
.. code-block:: python

    import otelml.auto                      # or LightGBMInstrumentor().instrument()
    booster = lightgbm.train({"objective": "binary"}, lightgbm.Dataset(X, y))
    booster.predict(X[:1])                  # -> span "inference lightgbm.Booster"
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelml import __version__
from otelml._errors import log_once
from otelml._inference import Description, Framework, Hooks, make_wrapper
from otelml.instrumentation import _boosters
from otelml.instrumentation._methods import MethodPatches, when_imported
from otelml.instrumentation.lightgbm.package import _instruments
from otelml.instrumentation.sklearn.estimators import describe_wrapper

__all__ = ["LightGBMInstrumentor"]

# Booster.predict(data, start_iteration, num_iteration, raw_score, pred_leaf, pred_contrib, ...)
_NOT_PREDICTIONS = {"raw_score": 3, "pred_leaf": 4, "pred_contrib": 5}
_KINDS = {"binary": _boosters.BINARY, "multiclass": _boosters.MULTI, "softmax": _boosters.MULTI,
          "multiclassova": _boosters.MULTI, "multiclass_ova": _boosters.MULTI, "ova": _boosters.MULTI,
          "ovr": _boosters.MULTI, "lambdarank": _boosters.RANKING, "rank_xendcg": _boosters.RANKING}


def _plain(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return not any(kwargs.get(name) or (len(args) > i and args[i])
                   for name, i in _NOT_PREDICTIONS.items())


def _objective(booster: Any) -> str | None:
    objective = (getattr(booster, "params", None) or {}).get("objective")
    if objective is None:
        objective = booster.dump_model(num_iteration=0).get("objective")
    return objective.split(" ")[0] if isinstance(objective, str) else None


def _describe_booster(booster: Any) -> Description:
    kind: str | None = None
    try:
        objective = _objective(booster)
        if objective is not None:
            kind = _KINDS.get(objective, _boosters.REGRESSION)
    except Exception as exc:
        log_once("reading the LightGBM booster's objective", exc)
    names = _names(booster)

    def inputs(_: Any, X: Any) -> tuple[Any, Any]:
        if isinstance(X, str) or hasattr(X, "__fspath__"):  # a file LightGBM reads itself
            return None, None
        return X, names

    return Description("lightgbm.Booster", _boosters.TASKS.get(kind or ""), "lightgbm", inputs,
                       _boosters.outputs_for(kind, _plain), names)


def _names(booster: Any) -> list[str] | None:
    """The booster's feature names; None for LightGBM's defaults ``Column_0..``."""
    names = booster.feature_name()
    if all(name == f"Column_{i}" for i, name in enumerate(names)):
        return None
    return list(names)


def _estimator_inputs(estimator: Any, X: Any) -> tuple[Any, Any]:
    try:
        return X, _names(estimator.booster_)
    except Exception:
        return X, None


BOOSTER = Framework("lightgbm", "data", _describe_booster)
ESTIMATOR = Framework("lightgbm", "X", lambda est: describe_wrapper(est, "lightgbm", _estimator_inputs))
_patches = MethodPatches()


def _patch(lightgbm: Any) -> None:
    if BOOSTER.hooks is None:  # uninstrumented before the application imported LightGBM
        return
    from lightgbm import sklearn as lgb_sklearn

    _patches.patch([lightgbm.Booster], ("predict",), lambda method, fn: make_wrapper(BOOSTER, method, fn))
    estimators = [cls for cls in vars(lgb_sklearn).values()
                  if isinstance(cls, type) and issubclass(cls, lgb_sklearn.LGBMModel)]
    _patches.patch(estimators, ("predict", "predict_proba"),
                   lambda method, fn: make_wrapper(ESTIMATOR, method, fn))


class LightGBMInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces LightGBM predictions as ``inference {model}`` spans (see the module docstring).

    ``instrument(tracer_provider=None, request_hook=None, response_hook=None)``, hooks as for XGBoost.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        hooks = Hooks(trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider")),
                      kwargs.get("request_hook"), kwargs.get("response_hook"))
        BOOSTER.hooks = ESTIMATOR.hooks = hooks
        when_imported("lightgbm", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        _patches.restore()
        BOOSTER.hooks = ESTIMATOR.hooks = None
