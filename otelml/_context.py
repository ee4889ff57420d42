"""The OTel runtime context, read and set without the API's two layers of Python calls.

The SDK's default runtime context is one ``ContextVar``; the prediction hot path gets, sets and resets
it directly. With another runtime context (``OTEL_PYTHON_CONTEXT``) the API functions are used.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as _api
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext


def _runtime_var() -> ContextVar[Any] | None:
    runtime = getattr(_api, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
        return var
    return None


_var = _runtime_var()

get_current: Callable[[], _api.Context] = _var.get if _var is not None else _api.get_current
attach: Callable[[_api.Context], Token[Any]] = (
    _var.set if _var is not None else _api.attach  # type: ignore[assignment]
)
# Raises ValueError/RuntimeError for a token of another context (the API's detach logs it): callers guard it.
detach: Callable[[Token[Any]], None] = (
    _var.reset if _var is not None else _api.detach  # type: ignore[assignment]
)
