"""What one Feast retrieval touched: the feature views and their features, versions, and the age of the
oldest value served per view (from the event timestamps in Feast's own response)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from otelml.semconv import (
    ML_FEATURE_NAMES,
    ML_FEATURE_STORE_NAME,
    ML_FEATURE_STORE_PROJECT,
    ML_FEATURE_STORE_SERVICE,
    ML_FEATURE_VIEW_FRESHNESS,
    ML_FEATURE_VIEW_NAME,
    ML_FEATURE_VIEW_VERSION,
    ML_OPERATION_NAME,
    OPERATION_FEATURE_LOOKUP,
)

__all__ = ["Views", "entity_input", "freshness", "requested_views", "view_attributes", "view_version"]

_PRESENT = 1  # feast.protos...FieldStatus.PRESENT: a value was found (not missing, null or too old)
_VERSION_TTL_S = 60.0

Views = dict[str, list[str]]
"""Feature view name -> feature names requested from it, in request order."""

# (id(store), project, view) -> (version or None, registry snapshot, time read): read again when Feast's
# registry cache holds a new snapshot (after `feast apply` and its refresh), else after _VERSION_TTL_S.
_versions: dict[tuple[int, str, str], tuple[str | None, Any, float]] = {}
# the same key -> (the attributes fixed per view and feature list, that list, registry snapshot, time built),
# valid as long as the version read with them
_statics: dict[tuple[int, str, str], tuple[dict[str, Any], list[str], Any, float]] = {}


# tuple of feature references -> their views (a service's usually repeats the same list every call)
_parsed: dict[tuple[str, ...], Views] = {}
# (id(views), full names) -> (views, response column -> view)
_columns: dict[tuple[int, bool], tuple[Views, dict[str, str]]] = {}
_NEVER = float("inf")
_NUMBER_TYPES = frozenset((int, float))
# entity key names -> one list object, so the capture policy's plan cache recognises them
_entity_names: dict[tuple[str, ...], list[str]] = {}


def requested_views(features: Any) -> tuple[Views, str | None]:
    """The views and features a request names (``"view:feature"`` references or a FeatureService), and
    the feature service's name when one was used. Callers must not change the lists returned."""
    if isinstance(features, list | tuple):
        key = tuple(features)
        views = _parsed.get(key)
        if views is None:
            views = {}
            for ref in key:
                view, _, feature = str(ref).partition(":")
                views.setdefault(view, []).append(feature)
            if len(_parsed) > 1024:
                _parsed.clear()
            _parsed[key] = views
        return views, None
    views = {}
    for projection in getattr(features, "feature_view_projections", ()):
        views.setdefault(projection.name_to_use(), []).extend(f.name for f in projection.features)
    return views, getattr(features, "name", None)


def view_version(store: Any, project: str, view: str, registry: Any = None) -> str | None:
    """The active version number of ``view`` (Feast's feature-view versioning), or None."""
    key = (id(store), project, view)
    cached = _versions.get(key)
    if registry is None:
        registry = store.registry
    snapshot = getattr(registry, "cached_registry_proto", None)
    if cached is not None and (cached[1] is snapshot if snapshot is not None
                               else time.monotonic() - cached[2] < _VERSION_TTL_S):
        return cached[0]
    version: str | None = None
    try:
        fv = registry.get_feature_view(view, project, allow_cache=True)
        number = getattr(fv, "current_version_number", None)
        declared = getattr(fv, "version", None)
        if number is not None:
            version = str(number)
        elif declared and str(declared).lower() != "latest":
            version = str(declared)
    except Exception:  # an on-demand or stream view, or no registry entry: no version
        version = None
    if len(_versions) > 4096:
        _versions.clear()
    _versions[key] = (version, getattr(registry, "cached_registry_proto", None), time.monotonic())
    return version


def view_attributes(store: Any, project: str, view: str, features: list[str], service: str | None,
                    age: float | None) -> dict[str, Any]:
    """The attributes of one view's ``feature_lookup`` span (``project``: ``store.project``, read once)."""
    key = (id(store), project, view)
    cached = _statics.get(key)
    registry = store.registry
    snapshot = getattr(registry, "cached_registry_proto", None)
    if (cached is None or not (cached[1] is features or cached[1] == features)
            or not (cached[2] is snapshot if snapshot is not None
                    else time.monotonic() - cached[3] < _VERSION_TTL_S)):
        static: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_FEATURE_LOOKUP, ML_FEATURE_STORE_NAME: "feast",
                                  ML_FEATURE_STORE_PROJECT: project, ML_FEATURE_VIEW_NAME: view,
                                  ML_FEATURE_NAMES: features}
        version = view_version(store, project, view, registry)
        if version is not None:
            static[ML_FEATURE_VIEW_VERSION] = version
        if len(_statics) > 4096:
            _statics.clear()
        cached = _statics[key] = (static, features, snapshot, time.monotonic())
    attrs = cached[0].copy()
    if service is not None:
        attrs[ML_FEATURE_STORE_SERVICE] = service
    if age is not None:
        attrs[ML_FEATURE_VIEW_FRESHNESS] = age
    return attrs


def _view_of_column(views: Views, full_names: bool) -> dict[str, str]:
    """Response column name -> its view (cached: a service requests the same views every call)."""
    key = (id(views), full_names)
    cached = _columns.get(key)
    if cached is not None and cached[0] is views:
        return cached[1]
    by_column = {f"{view}__{feature}" if full_names else feature: view
                 for view, features in views.items() for feature in features}
    if len(_columns) > 1024:
        _columns.clear()
    _columns[key] = (views, by_column)  # holds `views`, so its id is not reused while cached
    return by_column


def freshness(response: Any, views: Views, full_names: bool, now: float) -> dict[str, float]:
    """Per view, the age in seconds (at ``now``) of the oldest value the response served."""
    by_column = _view_of_column(views, full_names)
    oldest: dict[str, float] = {}
    proto = response.proto
    for column, vector in zip(proto.metadata.feature_names.val, proto.results, strict=False):
        view = by_column.get(column)
        if view is None:  # an entity column
            continue
        first = oldest.get(view, _NEVER)
        for ts, status in zip(vector.event_timestamps, vector.statuses, strict=False):
            if status == _PRESENT:
                served = ts.seconds + ts.nanos * 1e-9
                if served < first:
                    first = served
        if first != _NEVER:
            oldest[view] = first
    for view, first in oldest.items():
        oldest[view] = max(0.0, now - first)  # same keys: no resize while iterating
    return oldest


def entity_input(entity_rows: Any) -> tuple[Any, list[str] | None]:
    """Entity keys as a model input ``otelml._capture`` reads: one row as a mapping, rows as lists."""
    if isinstance(entity_rows, list | tuple):
        if not entity_rows:
            return None, None
        names = _names_of(entity_rows[0])
        if len(entity_rows) == 1:
            values = list(entity_rows[0].values())
            kinds = set(map(type, values))
            if len(kinds) > 1 and kinds <= _NUMBER_TYPES:
                return np.array(values), names  # ints beside floats: widened to floats, as in a batch
            return values, names
        return [[row.get(n) for n in names] for row in entity_rows], names
    if hasattr(entity_rows, "items"):  # column name -> values
        names = list(entity_rows)
        columns = [list(v) for v in entity_rows.values()]
        if columns and len(columns[0]) == 1:
            return {n: c[0] for n, c in zip(names, columns, strict=True)}, None
        return [list(r) for r in zip(*columns, strict=True)], names
    return None, None


def _names_of(row: Any) -> list[str]:
    key = tuple(row)
    names = _entity_names.get(key)
    if names is None:
        if len(_entity_names) > 1024:
            _entity_names.clear()
        names = _entity_names[key] = list(key)
    return names
