"""Feast instrumentation: every feature retrieval becomes ``feature_lookup {view}`` spans.

What is traced
--------------
``FeatureStore.get_online_features``, its coroutine ``get_online_features_async``,
``retrieve_online_documents`` / ``retrieve_online_documents_v2`` (where the installed Feast has them) and
``get_historical_features`` produce **one span per feature view
the call touched**, named ``feature_lookup {view}``. Feast fetches all views in one call, so these sibling
spans share the call's start and end time (and its error, if it raised); each carries its own view's
lineage, which one span per call could not (``ml.feature_view.name`` is a single string). Attributes
(docs/integrations/feast.md):

- ``ml.feature_store.name`` = ``feast``, ``ml.feature_store.project``, ``ml.feature_view.name``,
  ``ml.feature_view.version`` (Feast's active version number, when the view is versioned),
  ``ml.feature_store.service`` when the call named a FeatureService, ``ml.feature.names`` (the view's
  features requested);
- online calls: ``ml.feature_view.freshness``, the age in seconds of the oldest value served from the view,
  from the event timestamps in Feast's response (values not found or past their TTL do not count);
- online calls: the entity keys as ``ml.feature.<key>`` (``ml.batch.size`` for several rows), through
  the capture policy exactly like model features: ``OTELML_HASH_FEATURES=customer_id`` hashes them,
  ``OTELML_DROP_FEATURES`` drops them, ``OTELML_CAPTURE_FEATURES=false`` records none;
- ``get_historical_features``: no per-row data; the span covers building the retrieval job (Feast runs it
  later, in ``to_df()``/``to_arrow()``).

The spans belong to the current prediction (``ml.prediction.id``), so a lookup and the inference after it
in one request share the id and the trace. Feast's result is returned untouched and its exceptions reach
the caller unchanged; a failure inside the instrumentation is logged once and never reaches your code.

Example
-------
.. code-block:: python

    import otelml.auto
    store = feast.FeatureStore(repo_path="feature_repo")
    store.get_online_features(features=["customer_stats:age"], entity_rows=[{"customer_id": 7}])
    # -> span "feature_lookup customer_stats", ml.feature_view.freshness = 3.2
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelml import __version__, _config, _lifecycle
from otelml._capture import feature_attributes
from otelml._errors import log_once
from otelml._lifecycle import SUPPRESS_KEY, SUPPRESS_KEY_PLAIN
from otelml.instrumentation._methods import MethodPatches, when_imported
from otelml.instrumentation.feast import _lookup
from otelml.instrumentation.feast.package import _instruments

__all__ = ["FeastInstrumentor"]

ONLINE = ("get_online_features", "retrieve_online_documents", "retrieve_online_documents_v2")
ONLINE_ASYNC = ("get_online_features_async",)  # same arguments and result as get_online_features
OFFLINE = ("get_historical_features",)
_patches = MethodPatches()
_tracer: trace.Tracer | None = None


def _features_argument(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "features" in kwargs:
        return kwargs["features"]
    if method == "retrieve_online_documents":  # (query, top_k, features, ...)
        return args[2] if len(args) > 2 else None
    if method == "get_historical_features":  # (entity_df, features, ...)
        return args[1] if len(args) > 1 else None
    return args[0] if args else None


def _spans(store: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
           ctx: Any, start_ns: int, end_ns: int, error: BaseException | None) -> None:
    try:
        tracer = _tracer
        if tracer is None:
            return
        features = kwargs["features"] if "features" in kwargs else _features_argument(method, args, kwargs)
        views, service = _lookup.requested_views(features)
        lookup = method == "get_online_features" or method in ONLINE_ASYNC
        ages: dict[str, float] = {}
        entity_attrs: dict[str, Any] = {}
        if result is not None and (lookup or method in ONLINE):
            full = bool(kwargs.get("full_feature_names", args[2] if lookup and len(args) > 2 else False))
            ages = _lookup.freshness(result, views, full, end_ns / 1e9)
        if lookup:
            rows = kwargs.get("entity_rows", args[1] if len(args) > 1 else None)
            entities, names = _lookup.entity_input(rows)
            if entities is not None:
                entity_attrs = feature_attributes(entities, names, _config._active or _config.get_config())[0]
        pid = None
        project = store.project
        for view, features in views.items():
            attrs = _lookup.view_attributes(store, project, view, features, service, ages.get(view))
            attrs.update(entity_attrs)
            name = f"feature_lookup {view}"
            pid = _lifecycle.record(tracer, name, attrs, ctx, start_ns, end_ns, error, pid)
    except Exception as failure:  # never raised into the caller
        log_once(f"recording the Feast {method} spans", failure)


def _wrap(method: str, wrapped: Any) -> Any:
    @functools.wraps(wrapped)
    def wrapper(store: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = _lifecycle.get_current()
        if _tracer is None or ctx.get(SUPPRESS_KEY) or ctx.get(SUPPRESS_KEY_PLAIN):  # _lifecycle.suppressed()
            return wrapped(store, *args, **kwargs)
        start_ns = time.time_ns()
        try:
            result = wrapped(store, *args, **kwargs)
        except BaseException as exc:
            _spans(store, method, args, kwargs, None, ctx, start_ns, time.time_ns(), exc)
            raise
        _spans(store, method, args, kwargs, result, ctx, start_ns, time.time_ns(), None)
        return result

    wrapper.__otelml_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_async(method: str, wrapped: Any) -> Any:
    """:func:`_wrap` for a coroutine method: the span covers the awaited lookup."""

    @functools.wraps(wrapped)
    async def wrapper(store: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = _lifecycle.get_current()
        if _tracer is None or _lifecycle.suppressed(ctx):
            return await wrapped(store, *args, **kwargs)
        start_ns = time.time_ns()
        try:
            result = await wrapped(store, *args, **kwargs)
        except BaseException as exc:
            _spans(store, method, args, kwargs, None, ctx, start_ns, time.time_ns(), exc)
            raise
        _spans(store, method, args, kwargs, result, ctx, start_ns, time.time_ns(), None)
        return result

    wrapper.__otelml_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _patch(feast: Any) -> None:
    if _tracer is None:  # uninstrumented before the application imported Feast
        return
    store = feast.FeatureStore
    _patches.patch([store], [m for m in (*ONLINE, *OFFLINE) if hasattr(store, m)], _wrap)
    _patches.patch([store], [m for m in ONLINE_ASYNC if hasattr(store, m)], _wrap_async)


class FeastInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces Feast retrievals as ``feature_lookup {view}`` spans (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _tracer
        _tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        when_imported("feast", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _tracer
        _patches.restore()
        _tracer = None
