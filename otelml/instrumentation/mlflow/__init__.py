"""MLflow instrumentation: models loaded from the MLflow Model Registry carry their registry identity.

What is traced
--------------
- ``mlflow.pyfunc.load_model(uri)`` and the flavour loaders ``mlflow.sklearn.load_model``,
  ``mlflow.xgboost.load_model`` and ``mlflow.lightgbm.load_model`` with a registry URI -
  ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest`` (or a stage) - give
  the loaded model (and, for a pyfunc model, the native model inside it) ``ml.model.name`` = the registered
  name, ``ml.model.version`` = the version the URI resolved to (an alias is resolved at load time) and
  ``ml.model.run_id`` = the run that logged it, exactly as ``otelml.register_model(model, name=...,
  version=..., run_id=...)`` would. No ``register_model`` call is needed. Other URIs (``runs:/``, paths)
  leave the model as it was.
- ``PyFuncModel.predict`` produces one ``inference {name}`` span per call, with ``ml.model.framework`` =
  the model's flavour (``sklearn``, ``xgboost``, ``lightgbm``, ``python_function`` ...), the input columns
  as ``ml.feature.*`` (capture policy applied) and the output as ``ml.prediction.value``. The call into the
  native model inside (a scikit-learn ``predict``, a booster) adds no second span.

The registry is asked once per load (``MlflowClient.get_model_version``, with MLflow's own URI parsing);
if that fails the model loads as usual and the failure is logged once. Functions imported before
instrumenting (``from mlflow.pyfunc import load_model``) are not patched: instrument first (``import
otelml.auto`` at the top of the service) or call them through their module.

Example
-------
.. code-block:: python

    import otelml.auto
    model = mlflow.pyfunc.load_model("models:/churn@champion")
    model.predict(frame)          # -> span "inference churn", ml.model.version "3", ml.model.run_id "..."
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelml import __version__
from otelml._errors import log_once
from otelml._inference import Description, Framework, Hooks, Model, make_wrapper
from otelml._models import register_model
from otelml.instrumentation._methods import MethodPatches, when_imported
from otelml.instrumentation.mlflow.package import _instruments

__all__ = ["FLAVOURS", "MLflowInstrumentor", "registry_identity"]

FLAVOURS = ("sklearn", "xgboost", "lightgbm")
"""The flavour modules whose ``load_model`` is patched (besides ``mlflow.pyfunc``)."""


def registry_identity(model_uri: str) -> tuple[str, str, str | None] | None:
    """(registered name, version, run id) of a ``models:/`` URI, resolved in the current registry."""
    if not model_uri.startswith("models:/"):
        return None
    from mlflow import MlflowClient
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = MlflowClient()
    name, version = get_model_name_and_version(client, model_uri)
    run_id = client.get_model_version(name, version).run_id or None
    return name, str(version), run_id


def _native_models(model: Any) -> list[Any]:
    """The models a pyfunc model calls into (the scikit-learn estimator, the booster...)."""
    found = []
    for getter in ("get_raw_model", "unwrap_python_model"):
        try:
            inner = getattr(model, getter)()
        except Exception:
            continue
        if inner is not None and inner is not model:
            found.append(inner)
    impl = getattr(model, "_model_impl", None)
    for attr in ("sklearn_model", "xgb_model", "lgb_model"):
        inner = getattr(impl, attr, None)
        if inner is not None and all(inner is not f for f in found):
            found.append(inner)
    return found


def _loaded(model: Any, model_uri: Any) -> None:
    identity = registry_identity(str(model_uri))
    if identity is None:
        return
    name, version, run_id = identity
    for target in (model, *_native_models(model)):
        try:
            register_model(target, name=name, version=version, run_id=run_id)
        except TypeError:  # not weakly referenceable: its spans keep the class name
            continue


def _wrap_loader(original: Any) -> Any:
    @functools.wraps(original)
    def load_model(*args: Any, **kwargs: Any) -> Any:
        model = original(*args, **kwargs)
        try:
            _loaded(model, args[0] if args else kwargs.get("model_uri"))
        except Exception as exc:
            log_once("reading the MLflow registry entry of a loaded model", exc)
        return model

    load_model.__otelml_wrapped__ = True  # type: ignore[attr-defined]
    return load_model


def _outputs(model: Model, pyfunc: Any, method: str, result: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> tuple[Any, Any]:
    if hasattr(result, "columns"):  # a DataFrame of several outputs: no single prediction value
        return None, None
    return result, None


def _describe(pyfunc: Any) -> Description:
    loader = getattr(pyfunc, "loader_module", None) or "mlflow.pyfunc"
    framework = loader.rsplit(".", 1)[-1]
    task = None
    if framework in ("sklearn", "xgboost", "lightgbm"):
        from otelml.instrumentation.sklearn.estimators import task as sklearn_task

        task = next((t for inner in _native_models(pyfunc) if (t := sklearn_task(inner))), None)
    return Description(type(pyfunc).__name__, task, framework, None, _outputs)


PYFUNC = Framework("mlflow", "data", _describe)
_patches = MethodPatches()


def _patch(mlflow: Any) -> None:
    if PYFUNC.hooks is None:  # uninstrumented before the application imported MLflow
        return
    import mlflow.pyfunc

    _patches.patch_function(mlflow.pyfunc, "load_model", _wrap_loader)
    for flavour in FLAVOURS:
        try:
            module = importlib.import_module(f"mlflow.{flavour}")
        except Exception:  # a flavour this MLflow lacks
            continue
        _patches.patch_function(module, "load_model", _wrap_loader)
    _patches.patch([mlflow.pyfunc.PyFuncModel], ("predict",),
                   lambda method, fn: make_wrapper(PYFUNC, method, fn))


class MLflowInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Registry identity for loaded models and one span per ``PyFuncModel.predict`` (module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        PYFUNC.hooks = Hooks(trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider")),
                             kwargs.get("request_hook"), kwargs.get("response_hook"))
        when_imported("mlflow", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        _patches.restore()
        PYFUNC.hooks = None
