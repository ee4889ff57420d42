"""Wrap named methods of a few known classes where they are defined, and put the originals back.

The instrumentors of XGBoost, LightGBM, MLflow and Feast patch a short, fixed list of classes (unlike
scikit-learn's, which follows every estimator subclass). A method is wrapped once, in the first class of
the MRO that defines it, so subclasses inheriting it are covered and nothing is wrapped twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

from otelml._errors import log_once

__all__ = ["MethodPatches", "when_imported"]

_registered: set[tuple[str, Callable[[Any], None]]] = set()


def when_imported(module: str, patch: Callable[[Any], None]) -> None:
    """Run ``patch(module)`` now if ``module`` is imported, else right after the application imports it.

    ``import otelml.auto`` must not import every library it could instrument (MLflow and Feast alone take
    seconds); ``patch`` checks that instrumentation is still on when it finally runs.
    """

    def guarded(loaded: Any) -> None:
        try:
            patch(loaded)
        except Exception as exc:
            log_once(f"instrumenting {module}", exc)

    key = (module, patch)
    if key in _registered:
        import sys

        if module in sys.modules:
            guarded(sys.modules[module])
        return
    _registered.add(key)
    wrapt.register_post_import_hook(guarded, module)


class MethodPatches:
    """The methods one instrumentor replaced: ``patch`` wraps, ``restore`` undoes every wrap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._originals: list[tuple[Any, str, Any]] = []

    def patch(self, classes: Iterable[type], methods: Iterable[str],
              make: Callable[[str, Any], Any]) -> None:
        """Replace each of ``methods`` that ``classes`` resolve by ``make(method, original function)``."""
        methods = tuple(methods)
        with self._lock:
            for cls in classes:
                for method in methods:
                    owner = next((c for c in cls.__mro__ if method in c.__dict__), None)
                    if owner is None or owner is object:
                        continue
                    original = owner.__dict__[method]
                    if getattr(original, "__otelml_wrapped__", False) or not callable(original):
                        continue
                    setattr(owner, method, make(method, original))
                    self._originals.append((owner, method, original))

    def patch_function(self, module: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Replace the module-level function ``module.name`` by ``make(original)``."""
        with self._lock:
            original = getattr(module, name, None)
            if original is None or getattr(original, "__otelml_wrapped__", False):
                return
            setattr(module, name, make(original))
            self._originals.append((module, name, original))

    def restore(self) -> None:
        """Put every original back (last wrapped first)."""
        with self._lock:
            while self._originals:
                owner, name, original = self._originals.pop()
                setattr(owner, name, original)
