"""Factory registry: every receiver, processor, exporter and extension type the config loader can build.

A component module registers its factory at import time::

    from otelml_collector import registry
    registry.register(DriftFactory())

Built-in receivers/exporters live in this package; processor modules are imported from
`PROCESSOR_MODULES`, extension modules (`extensions:`, e.g. `bearertokenauth`) from
`EXTENSION_MODULES`, by `load_builtin()`. A module that does not exist (yet) is skipped; one that
exists but fails to import is remembered, and asking for its type raises an error that says why.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING

from otelml_collector.deps import install_hint

if TYPE_CHECKING:
    from otelml_collector.component import Factory

__all__ = [
    "BUILTIN_MODULES",
    "EXTENSION_MODULES",
    "KINDS",
    "PROCESSOR_MODULES",
    "UnknownComponentError",
    "all_factories",
    "get",
    "load_builtin",
    "register",
    "types",
    "unregister",
]

_log = logging.getLogger("otelml_collector.registry")

KINDS = ("receiver", "processor", "exporter", "extension")

BUILTIN_MODULES = (
    "otelml_collector.receivers.otlp",
    "otelml_collector.exporters.otlp",
    "otelml_collector.exporters.webhook",
)
"""Packages of the built-in `otlp` receiver and the `otlp` and `webhook` exporters."""

PROCESSOR_MODULES: dict[str, str] = {
    "ml_extract": "otelml_collector.processors.extract",
    "drift": "otelml_collector.processors.drift",
    "quality": "otelml_collector.processors.quality",
    "predictions": "otelml_collector.processors.predictions",
    "performance": "otelml_collector.processors.performance",
    "slo": "otelml_collector.processors.slo",
    "diagnose": "otelml_collector.processors.diagnose",
    "canary": "otelml_collector.processors.canary",
}
"""Processor type -> module that registers it on import."""

EXTENSION_MODULES: dict[str, str] = {
    "bearertokenauth": "otelml_collector.extensions.bearertokenauth",
    "file_storage": "otelml_collector.extensions.file_storage",
}
"""Extension type -> module that registers it on import (extensions are started before, and shut down
after, every other component; components find them by instance name in `ComponentContext.extensions`)."""

_factories: dict[tuple[str, str], Factory] = {}
_import_errors: dict[str, str] = {}
_lock = threading.Lock()
_loaded = False
_imported: set[str] = set()


class UnknownComponentError(KeyError):
    """No factory is registered for a (kind, type)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def register(factory: Factory) -> Factory:
    """Register `factory` under (factory.kind, factory.type); re-registering the same type replaces it."""
    kind, type_ = getattr(factory, "kind", None), getattr(factory, "type", None)
    if kind not in KINDS:
        raise ValueError(f"factory {factory!r}: kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(type_, str) or not type_ or "/" in type_:
        raise ValueError(f"factory {factory!r}: type must be a non-empty string without '/', got {type_!r}")
    with _lock:
        _factories[(kind, type_)] = factory
    return factory


def unregister(kind: str, type_: str) -> None:
    """Remove a factory (tests that register their own)."""
    with _lock:
        _factories.pop((kind, type_), None)


def load_builtin() -> None:
    """Import the built-in component modules and every processor module that exists (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in (*BUILTIN_MODULES, *PROCESSOR_MODULES.values(), *EXTENSION_MODULES.values()):
        _import(module)


def _import(module: str) -> None:
    if module in _imported:
        return
    _imported.add(module)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return  # the module is not written yet
        if exc.name is not None and not exc.name.startswith("otelml"):
            # an optional dependency is not installed: say what to install, no traceback
            _import_errors[module] = f"needs the Python package {exc.name!r}: {install_hint(exc.name)}"
            _log.error("component module %s: %s", module, _import_errors[module])
            return
        _record_failure(module, exc)
    except Exception as exc:  # a broken component must not take the others down
        _record_failure(module, exc)


def _record_failure(module: str, exc: BaseException) -> None:
    _import_errors[module] = f"{type(exc).__name__}: {exc}"
    _log.error("component module %s failed to import: %s", module, exc, exc_info=exc)


def get(kind: str, type_: str) -> Factory:
    """The factory for `type_` (the part before '/' of an instance name) of `kind`. Imports only the
    module that provides it (a sidecar without `quality` never pays for importing pandas)."""
    base = type_.split("/", 1)[0]
    for builtin in BUILTIN_MODULES:
        _import(builtin)
    modules = {"processor": PROCESSOR_MODULES, "extension": EXTENSION_MODULES}.get(kind, {})
    if base in modules:
        _import(modules[base])
    with _lock:
        factory = _factories.get((kind, base))
    if factory is not None:
        return factory
    known = ", ".join(sorted(types(kind))) or "none"
    hint = ""
    module = modules.get(base)
    broken = [m for m in BUILTIN_MODULES if m in _import_errors] if kind in ("receiver", "exporter") else []
    if broken:
        hint = f" (module {broken[0]} failed to import: {_import_errors[broken[0]]})"
    elif module and module in _import_errors:
        hint = f" (module {module} failed to import: {_import_errors[module]})"
    elif module:
        hint = f" (module {module} is not installed)"
    raise UnknownComponentError(f"unknown {kind} type {base!r}{hint}; known {kind} types: {known}")


def types(kind: str) -> list[str]:
    load_builtin()
    with _lock:
        return sorted(t for k, t in _factories if k == kind)


def all_factories() -> list[Factory]:
    """Every registered factory, receivers first, then processors, exporters and extensions."""
    load_builtin()
    with _lock:
        return [f for kind in KINDS for (k, _), f in sorted(_factories.items()) if k == kind]
