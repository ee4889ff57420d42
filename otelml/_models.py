"""Model names and versions registered by the user: ``otelml.register_model(est, name=..., version=...)``.

Weak-keyed by the estimator object, so registering never keeps a model alive. An unregistered model is
named after its class by the instrumentors.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, NamedTuple, TypeVar

__all__ = ["ModelInfo", "model_info", "register_model"]

T = TypeVar("T")


class ModelInfo(NamedTuple):
    name: str
    version: str | None
    run_id: str | None = None
    role: str | None = None


ROLES = ("primary", "shadow", "canary")
_registry: weakref.WeakKeyDictionary[Any, ModelInfo] = weakref.WeakKeyDictionary()
# Unhashable models (MLflow's PyFuncModel defines __eq__ only) by id, with a weak reference that confirms
# the id was not reused and drops the entry when the model is collected.
_unhashable: dict[int, tuple[weakref.ref[Any], ModelInfo]] = {}
_lock = threading.Lock()
generation = 0
"""Bumped on every registration, so instrumentors can drop per-estimator caches cheaply."""


def register_model(estimator: T, name: str, version: str | int | float | None = None, *,
                   run_id: str | None = None, role: str | None = None) -> T:
    """Give ``estimator`` the model name (and version) its inference spans carry. Returns the estimator.

    ``run_id`` (the training run, e.g. MLflow's) becomes ``ml.model.run_id``; the MLflow instrumentor
    sets all three for models loaded from the registry. Raises ``ValueError`` for an empty ``name`` and
    ``TypeError`` for an object that cannot be weakly referenced (register the estimator object itself,
    not a plain function or builtin). ``role`` (``primary``, ``shadow`` or ``canary``) becomes
    ``ml.deployment.role``: how this version serves traffic beside another version of the same model
    (a ``shadow`` answers the same requests as the ``primary`` without being used; a ``canary`` gets a
    share of the traffic); the sidecar's ``canary`` processor compares them.
    """
    global generation
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"otelml.register_model: name must be a non-empty string, got {name!r}")
    if role is not None and role not in ROLES:
        raise ValueError(f"otelml.register_model: role must be one of {', '.join(ROLES)}, got {role!r}")
    info = ModelInfo(name, None if version is None else str(version), run_id, role)
    try:
        with _lock:
            try:
                _registry[estimator] = info
            except TypeError:
                if _hashable(estimator):
                    raise
                key = id(estimator)
                ref = weakref.ref(estimator, lambda _, key=key: _unhashable.pop(key, None))  # type: ignore[misc]
                _unhashable[key] = (ref, info)
            generation += 1
    except TypeError as exc:
        raise TypeError(
            f"otelml.register_model: cannot register a {type(estimator).__name__} (it cannot be weakly "
            "referenced); register the model object itself"
        ) from exc
    return estimator


def model_info(estimator: Any) -> ModelInfo | None:
    """The registered name and version of ``estimator``, or None."""
    try:
        return _registry.get(estimator)
    except TypeError:
        entry = _unhashable.get(id(estimator))
        return entry[1] if entry is not None and entry[0]() is estimator else None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
