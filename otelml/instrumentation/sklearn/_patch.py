"""Where the prediction methods live, and how they are wrapped and restored.

sklearn resolves ``predict``/``predict_proba``/... on many classes: mixins (``LinearClassifierMixin``),
concrete estimators, and ``available_if`` descriptors (``Pipeline``, ``SearchCV``, ...). Patching
``BaseEstimator`` alone would miss all of them, and importing every estimator module up front
(``all_estimators()``) costs seconds at start-up. So:

- at ``instrument()`` every already-imported subclass of ``BaseEstimator`` is visited, and a hook on
  ``BaseEstimator.__init_subclass__`` visits each class defined later (sklearn modules imported later
  and the user's own estimator classes alike);
- for each class and method the function is wrapped where it is defined (the first class in the MRO
  holding it), once; for an ``available_if`` descriptor its ``fn`` is wrapped, so availability checks
  keep working;
- joblib thread workers do not inherit the caller's context, so sklearn's ``Parallel`` is patched to
  mark the work it runs on behalf of an instrumented call (a threaded RandomForest is still one span).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import wrapt

from otelml import _inference
from otelml._errors import log_once
from otelml.instrumentation.sklearn import estimators

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
# Training: predictions made inside these (cross-validation in GridSearchCV.fit, StackingClassifier.fit,
# fit_predict of a clusterer) are not serving traffic, so they run without spans.
QUIET_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit")

_lock = threading.RLock()
# (owner class, method name) -> (descriptor or None, original function)
_patched: dict[tuple[type, str], tuple[Any, Any]] = {}
_hook_installed: list[Any] = []  # [original __init_subclass__ in BaseEstimator.__dict__ or None]
_parallel: list[tuple[type, str, Any]] = []


# Their own instrumentors wrap these libraries' estimator classes (one span each, with their framework).
OWN_INSTRUMENTORS = ("xgboost", "lightgbm")


def _make(method: str, fn: Any) -> Any:
    # A plain function, not a wrapt proxy: it binds like the original (also through available_if's
    # MethodType) and costs one frame on the hot path. A call nested in an instrumented one (a Pipeline's
    # steps, predict_proba calling decision_function) passes straight through from here.
    if method in QUIET_METHODS:
        quiet = estimators.quiet

        @functools.wraps(fn)
        def quiet_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return quiet(fn, self, *args, **kwargs)

        quiet_wrapper.__otelml_wrapped__ = True  # type: ignore[attr-defined]
        return quiet_wrapper

    return estimators.make(method, fn)


def patch_class(cls: type) -> None:
    """Wrap the prediction methods ``cls`` resolves, where they are defined."""
    for method in (*METHODS, *QUIET_METHODS):
        for owner in cls.__mro__:
            attr = owner.__dict__.get(method)
            if attr is not None:
                break
        else:
            continue
        key = (owner, method)
        if key in _patched or owner.__module__.partition(".")[0] in OWN_INSTRUMENTORS:
            continue
        with _lock:
            if key in _patched:
                continue
            if type(attr).__name__ == "_AvailableIfDescriptor" and hasattr(attr, "fn"):
                original = attr.fn
                if not getattr(original, "__otelml_wrapped__", False):
                    attr.fn = _make(method, original)
                    _patched[key] = (attr, original)
            elif callable(attr) and hasattr(attr, "__code__") and not hasattr(attr, "__otelml_wrapped__"):
                setattr(owner, method, _make(method, attr))
                _patched[key] = (None, attr)


def _subclasses(root: type) -> list[type]:
    seen: set[type] = set()
    stack: list[type] = [root]
    out: list[type] = []
    while stack:
        sub: type
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                out.append(sub)
                stack.append(sub)
    return out


def patch_all() -> None:
    """Wrap every estimator class defined now and, through a subclass hook, every one defined later."""
    from sklearn.base import BaseEstimator

    with _lock:
        if not _hook_installed:
            original = BaseEstimator.__dict__.get("__init_subclass__")
            _hook_installed.append(original)

            def __init_subclass__(cls: type, **kwargs: Any) -> None:
                if original is not None:
                    original.__func__(cls, **kwargs)
                else:
                    super(BaseEstimator, cls).__init_subclass__(**kwargs)
                try:
                    patch_class(cls)
                except Exception as exc:
                    log_once(f"patching {cls.__name__}", exc)

            BaseEstimator.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
        for cls in [BaseEstimator, *_subclasses(BaseEstimator)]:
            try:
                patch_class(cls)
            except Exception as exc:
                log_once(f"patching {cls.__name__}", exc)
        _patch_parallel()


def _patch_parallel() -> None:
    try:
        from sklearn.utils import parallel
    except ImportError:
        return
    if _parallel or not hasattr(parallel, "_FuncWrapper"):
        return

    def parallel_call(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        if args and _inference.inside():
            args = (_mark(args[0]), *args[1:])
        return wrapped(*args, **kwargs)

    def func_call(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        if instance is not None and instance.__dict__.get("_otelml_inside"):
            return _inference.quiet(wrapped, *args, **kwargs)
        return wrapped(*args, **kwargs)

    for owner, name, wrapper in ((parallel.Parallel, "__call__", parallel_call),
                                 (parallel._FuncWrapper, "__call__", func_call)):
        original = owner.__dict__[name]
        setattr(owner, name, wrapt.FunctionWrapper(original, wrapper))
        _parallel.append((owner, name, original))


def _mark(iterable: Any) -> Any:
    for item in iterable:
        try:
            item[0]._otelml_inside = True
        except Exception:
            pass
        yield item


def unpatch_all() -> None:
    """Restore every original function and remove the subclass hook."""
    from sklearn.base import BaseEstimator

    with _lock:
        for (owner, method), (descriptor, original) in _patched.items():
            if descriptor is not None:
                descriptor.fn = original
            else:
                setattr(owner, method, original)
        _patched.clear()
        if _hook_installed:
            original_hook = _hook_installed.pop()
            if original_hook is None:
                del BaseEstimator.__init_subclass__
            else:
                BaseEstimator.__init_subclass__ = original_hook  # type: ignore[method-assign]
        while _parallel:
            owner, name, original = _parallel.pop()
            setattr(owner, name, original)
