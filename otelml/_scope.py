"""The prediction scope: which ``ml.prediction.id`` an otelml span belongs to.

Sources, first match wins:

1. an explicit ``with otelml.prediction(id=...)`` block (or an otelml span enclosing this one);
2. the ``ml.prediction.id`` W3C baggage entry of an incoming request;
3. the id the first otelml span of this trace created in this process (the local root span, e.g. the
   HTTP server span, is the scope: its trace id keys a small bounded map, so the id stays readable after
   the inference span ended, until the request's trace is no longer current).
Otherwise a new id is created (a random 128-bit hex string).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context, trace

from otelml import _lifecycle, _telemetry
from otelml._errors import log_once
from otelml._lifecycle import (
    MAX_ID_LENGTH,
    SCOPE_KEY,
    Holder,
    new_prediction_id,
    remember_for_trace,
    resolve,
    valid_prediction_id,
)
from otelml.semconv import ML_PREDICTION_ID

PREDICTION_SPAN_NAME = "prediction"
"""Root span of an explicit `otelml.prediction()` scope opened outside any trace."""

__all__ = [
    "MAX_ID_LENGTH",
    "SCOPE_KEY",
    "Holder",
    "PredictionScope",
    "current_prediction_id",
    "new_prediction_id",
    "prediction",
    "remember_for_trace",
    "resolve",
    "valid_prediction_id",
]

F = TypeVar("F", bound=Callable[..., Any])


def current_prediction_id() -> str | None:
    """The prediction id of the current scope, or ``None`` when no otelml span has created one yet.

    Inside ``with otelml.prediction():`` the id is created on first use.
    """
    pid, holder = resolve()
    if pid is None and holder is not None:
        pid = holder.id = new_prediction_id()
    return pid


class PredictionScope:
    """``with otelml.prediction(id=None):`` — one prediction; also a decorator (sync and async)."""

    __slots__ = ("_given", "_spans", "_tokens")

    def __init__(self, id: str | None = None) -> None:
        if id is not None and not valid_prediction_id(id):
            raise ValueError(
                f"otelml.prediction: id must be a printable string of 1-{MAX_ID_LENGTH} characters without "
                f"',;= ', got {id!r}"
            )
        self._given = id
        self._tokens: list[object] = []
        self._spans: list[trace.Span | None] = []

    @property
    def id(self) -> str:
        """The scope's id (created now if no otelml span created it yet). Only valid inside the block."""
        holder = context.get_value(SCOPE_KEY)
        if holder is None:
            raise RuntimeError("otelml.prediction(...).id is only available inside its `with` block")
        if holder.id is None:  # type: ignore[attr-defined]
            holder.id = new_prediction_id()  # type: ignore[attr-defined]
        return holder.id  # type: ignore[attr-defined,no-any-return]

    def __enter__(self) -> PredictionScope:
        ctx = context.get_current()
        span: trace.Span | None = None
        if not trace.get_current_span(ctx).get_span_context().is_valid:
            # Outside any trace (a script, a batch job): a `prediction` root span makes the scope's
            # feature lookup, inference and post-processing one trace, as a server span does in a service.
            span = _scope_span_start(ctx)
            if span is not None:
                ctx = trace.set_span_in_context(span, ctx)
        holder = Holder(self._given)
        self._spans.append(span)
        self._tokens.append(context.attach(context.set_value(SCOPE_KEY, holder, ctx)))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        holder = context.get_value(SCOPE_KEY)
        context.detach(self._tokens.pop())  # type: ignore[arg-type]
        span = self._spans.pop()
        if span is not None:
            _scope_span_end(span, getattr(holder, "id", None), exc)

    async def __aenter__(self) -> PredictionScope:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        given = self._given
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with PredictionScope(given):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with PredictionScope(given):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _scope_span_start(ctx: context.Context) -> trace.Span | None:
    try:
        return _lifecycle.start_root(_telemetry.tracer(), PREDICTION_SPAN_NAME, ctx)
    except Exception as error:  # telemetry never breaks the host
        log_once("prediction scope span", error)
        return None


def _scope_span_end(span: trace.Span, pid: str | None, error: BaseException | None) -> None:
    try:
        if pid is not None:
            span.set_attribute(ML_PREDICTION_ID, pid)
    except Exception as failure:
        log_once("prediction scope span", failure)
    if error is not None:
        _lifecycle.fail(span, error)
    _lifecycle.end(span, None)


def prediction(id: str | None = None) -> PredictionScope:
    """A prediction scope: every otelml span inside shares one ``ml.prediction.id`` (``id`` or a new one)."""
    return PredictionScope(id)
