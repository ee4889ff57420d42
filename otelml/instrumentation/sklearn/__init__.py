"""scikit-learn instrumentation: every prediction of a fitted estimator or Pipeline becomes a span.

What is traced
--------------
Each user call of ``predict``, ``predict_proba``, ``predict_log_proba`` or ``decision_function`` on any
scikit-learn estimator (including Pipelines, meta-estimators and your own ``BaseEstimator`` subclasses,
also those defined after instrumenting) produces exactly one span ``inference {model}`` with:

- ``ml.operation.name`` = ``inference``, ``ml.model.framework`` = ``sklearn``;
- ``ml.model.name``: the estimator's class name (``Pipeline`` for a pipeline), or the name given with
  ``otelml.register_model(est, name=..., version=...)``, and ``ml.model.version`` when registered;
- ``ml.model.task``: ``classification`` | ``regression`` (also ``clustering``, ``outlier_detection``);
- one ``ml.feature.<name>`` per input column; names from DataFrame columns, else the model's
  ``feature_names_in_``, else ``f0..fN``; masked per the capture policy (``OTELML_*`` settings, see
  docs/library.md "Capture policy and privacy"); batches as arrays, sampled beyond
  ``OTELML_MAX_BATCH_ROWS`` with ``ml.batch.size`` / ``ml.batch.sampled_rows``;
- ``ml.prediction.value``: the predicted value or class;
- ``ml.prediction.score`` (classifiers): the probability of the predicted class (binary: of the
  positive class, ``classes_[1]``), **only when the call itself produced probabilities**
  (``predict_proba`` / ``predict_log_proba``). ``predict`` and ``decision_function`` record the class
  but no score: computing one would mean a second model call, which can double the cost.

Calls made by the model itself (a Pipeline calling its steps, ``predict`` calling
``decision_function``, ``super().predict`` in a subclass, ensemble members on joblib threads) add no
span, and neither do predictions made during training (inside ``fit``, ``fit_transform``,
``fit_predict``, ``partial_fit``: e.g. GridSearchCV's cross-validation). If the model raises, the span
gets status ERROR and the exception, and the same exception reaches the caller. The model's result is
returned untouched; a failure inside the instrumentation is logged once and never reaches your code.

Options
-------
``SklearnInstrumentor().instrument(tracer_provider=None, request_hook=None, response_hook=None)``

- ``tracer_provider``: where the inference spans go (default: the global provider, also one set
  later). Spans made by otelml's own API (``record_label``, ``otelml.inference``) follow
  ``otelml.configure(tracer_provider=...)`` instead;
- ``request_hook(span, estimator, method_name, X)`` runs after the span started;
- ``response_hook(span, estimator, method_name, result)`` runs before it ends.
Hook exceptions are logged and ignored; predictions a hook makes add no span (they are nested in the
call). ``uninstrument()`` restores the original methods; instrumenting twice is harmless.

Limits
------
Estimators that do not derive from ``sklearn.base.BaseEstimator`` are not patched, nor prediction
methods assigned to an instance. Workers in other processes (joblib's loky/multiprocessing backends)
are not traced unless they import otelml themselves.

Example
-------
.. code-block:: python

    import otelml
    from otelml.instrumentation.sklearn import SklearnInstrumentor

    SklearnInstrumentor().instrument()   # or simply: import otelml.auto
    model = otelml.register_model(LogisticRegression().fit(X, y), name="churn", version="3")
    model.predict_proba(X[:1])           # -> span "inference churn"
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelml import __version__
from otelml._inference import Hooks
from otelml.instrumentation.sklearn import _patch, estimators
from otelml.instrumentation.sklearn.package import _instruments

__all__ = ["SklearnInstrumentor"]


class SklearnInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces scikit-learn predictions as ``inference {model}`` spans (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        estimators.FRAMEWORK.hooks = Hooks(tracer, kwargs.get("request_hook"), kwargs.get("response_hook"))
        _patch.patch_all()

    def _uninstrument(self, **kwargs: Any) -> None:
        _patch.unpatch_all()
        estimators.FRAMEWORK.hooks = None
