"""The one span lifecycle of otelml, and the only library module that reads OpenTelemetry private names.

Every otelml span - ``feature_lookup``, ``inference`` (the manual API and every model instrumentor),
``postprocess``, ``label``, the ``prediction`` scope root - starts and ends here:

- :func:`start` resolves the prediction scope of the parent context, starts the span with every attribute
  known so far (one ``start_span`` call), and makes it current in one context copy;
- :func:`fail` records an exception and the error status; :func:`end` ends the span and detaches its
  context. Each logs its own failures once and never raises.

The prediction scope (which ``ml.prediction.id`` a span belongs to), first match wins:

1. an explicit ``with otelml.prediction(id=...)`` block (or an otelml span enclosing this one);
2. the ``ml.prediction.id`` W3C baggage entry of an incoming request;
3. the id the first otelml span of this trace created in this process (the local root span, e.g. the
   HTTP server span, is the scope: its trace id keys a small bounded map, so the id stays readable after
   the inference span ended, until the request's trace is no longer current).
Otherwise a new id is created (a random 128-bit hex string).

Private names used (each stable since OpenTelemetry 1.0): the context keys of the current span
(``_SPAN_KEY``), of baggage (``_BAGGAGE_KEY``) and of suppressed instrumentation, the SDK's default
runtime context (one ``ContextVar``, read and set directly instead of through two layers of API calls),
the API's proxy logger provider class, and the logs signal (still private in OpenTelemetry): the helpers at
the end record and export log records for the rest of the library.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry import context as _api
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.baggage import _BAGGAGE_KEY
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import Link, Span, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

from otelml._errors import log_once
from otelml.semconv import ML_PREDICTION_ID

__all__ = [
    "INSIDE_KEY",
    "LOG_INFO",
    "SCOPE_KEY",
    "SPAN_KEY",
    "SUPPRESS_KEY",
    "SUPPRESS_KEY_PLAIN",
    "Holder",
    "ProxyLoggerProvider",
    "attach",
    "attach_inside",
    "detach",
    "emit",
    "emit_log",
    "end",
    "export_logs",
    "fail",
    "get_current",
    "global_logger_provider",
    "log_recorder",
    "new_prediction_id",
    "otlp_log_exporter",
    "record",
    "remember_for_trace",
    "resolve",
    "start",
    "suppressed",
    "valid_prediction_id",
]

SPAN_KEY = _SPAN_KEY
# The two keys `is_instrumentation_enabled()` reads: wrappers check them on the current context directly.
SUPPRESS_KEY = _SUPPRESS_INSTRUMENTATION_KEY
# opentelemetry.instrumentation.utils._SUPPRESS_INSTRUMENTATION_KEY_PLAIN; not imported from there, because
# that module imports opentelemetry.propagate, which loads otelml's own propagator entry point.
SUPPRESS_KEY_PLAIN = "suppress_instrumentation"
SCOPE_KEY = _api.create_key("otelml-prediction-scope")
# Set while an instrumented prediction (or training, see otelml._inference.quiet) runs: predictions nested
# in it add no span. In the context start() attaches anyway, so marking costs no second context switch.
INSIDE_KEY = _api.create_key("otelml-inside-prediction")
MAX_ID_LENGTH = 128
_TRACE_MAP_SIZE = 8192
_getrandbits = random.getrandbits
_time_ns = time.time_ns
_dict_setitem = dict.__setitem__  # Context forbids item assignment; our fresh, unshared copy is filled in


def _runtime_var() -> ContextVar[Any] | None:
    runtime = getattr(_api, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
        return var
    return None


_var = _runtime_var()
# The SDK's default runtime context is one ContextVar: read and set it directly. With another runtime
# context (OTEL_PYTHON_CONTEXT) the API functions are used.
get_current: Callable[[], Context] = _var.get if _var is not None else _api.get_current
attach: Callable[[Context], Token[Any]] = _var.set if _var is not None else _api.attach  # type: ignore[assignment]
# Raises ValueError/RuntimeError for a token of another context (the API's detach logs it): callers guard it.
detach: Callable[[Token[Any]], None] = _var.reset if _var is not None else _api.detach  # type: ignore[assignment]


def attach_inside(ctx: Context) -> Token[Any]:
    """Make current a copy of ``ctx`` marked with :data:`INSIDE_KEY`; undo with :func:`detach`."""
    new_ctx = Context(ctx)
    _dict_setitem(new_ctx, INSIDE_KEY, True)
    return attach(new_ctx)


def suppressed(ctx: Context) -> bool:
    """True when instrumentation is suppressed in ``ctx`` (exporters, ``suppress_instrumentation()``)."""
    return bool(ctx.get(SUPPRESS_KEY) or ctx.get(SUPPRESS_KEY_PLAIN))


class Holder:
    """Mutable cell for an explicit scope's id, so the first span inside the scope can fill it in."""

    __slots__ = ("id",)

    def __init__(self, pid: str | None = None) -> None:
        self.id = pid


_by_trace: OrderedDict[int, str] = OrderedDict()
_by_trace_lock = threading.Lock()


def new_prediction_id() -> str:
    """A new random 128-bit prediction id as 32 lower-case hex digits."""
    return "%032x" % _getrandbits(128)  # noqa: UP031 - %-format is the cheapest here


def valid_prediction_id(pid: object) -> bool:
    """True for a non-empty printable string of at most 128 characters without baggage delimiters."""
    return (
        isinstance(pid, str)
        and 0 < len(pid) <= MAX_ID_LENGTH
        and pid.isprintable()
        and not any(c in pid for c in ",;= ")
    )


def remember_for_trace(trace_id: int, pid: str) -> None:
    """Make ``pid`` the id of every later otelml span of this trace in this process."""
    if not trace_id:
        return
    with _by_trace_lock:
        _by_trace[trace_id] = pid
        if len(_by_trace) > _TRACE_MAP_SIZE:
            _by_trace.popitem(last=False)


def resolve(ctx: Context | None = None) -> tuple[str | None, Holder | None]:
    """The id in scope (or ``None``) and the explicit scope holder when there is one.

    Under ``SCOPE_KEY`` a context holds either a ``Holder`` (an explicit scope, whose id may still be
    unset) or the id itself (set by an otelml span for the spans nested in it).
    """
    if ctx is None:
        ctx = get_current()
    holder: Any = ctx.get(SCOPE_KEY)
    if holder is not None:
        if type(holder) is str:
            return holder, None
        return holder.id, holder
    entries = ctx.get(_BAGGAGE_KEY)
    if entries:
        pid = entries.get(ML_PREDICTION_ID)  # type: ignore[attr-defined]
        if isinstance(pid, str) and valid_prediction_id(pid):
            return pid, None
    span = ctx.get(_SPAN_KEY)
    if span is None:
        return None, None
    trace_id = span.get_span_context().trace_id  # type: ignore[attr-defined]
    if trace_id:
        return _by_trace.get(trace_id), None
    return None, None


def record(tracer: trace.Tracer, name: str, attributes: dict[str, Any], ctx: Context, start_ns: int,
           end_ns: int, error: BaseException | None = None, pid: str | None = None) -> str:
    """A span of a call that already happened (``start_ns`` .. ``end_ns``), below ``ctx`` in its prediction
    scope (or with ``pid``), never made current: several sibling spans can share one call (a Feast lookup
    over several feature views). Returns the prediction id. Raises what the tracer raises."""
    holder = None
    if pid is None and (ctx.get(SCOPE_KEY) is not None or ctx.get(_SPAN_KEY) is not None
                        or ctx.get(_BAGGAGE_KEY)):
        pid, holder = resolve(ctx)
    fresh = pid is None
    if pid is None:
        pid = "%032x" % _getrandbits(128)  # noqa: UP031 - new_prediction_id without the call
        if holder is not None:
            holder.id = pid
    attributes[ML_PREDICTION_ID] = pid
    span = tracer.start_span(name, ctx, attributes=attributes, start_time=start_ns)
    if fresh and holder is None and ctx.get(_SPAN_KEY) is not None:
        remember_for_trace(span.get_span_context().trace_id, pid)
    if error is not None:
        fail(span, error)
    try:
        span.end(end_time=end_ns)
    except Exception as exc:
        log_once(f"ending {_span_name(span)}", exc)
    return pid


def start(tracer: trace.Tracer, name: str, attributes: dict[str, Any], ctx: Context,
          inside: bool = False) -> tuple[Span, Token[Any], str, int]:
    """Start span ``name`` below ``ctx`` in its prediction scope and make it current.

    ``attributes`` gains ``ml.prediction.id`` and is handed to the SDK as is; ``inside`` marks the context
    with :data:`INSIDE_KEY` too (an instrumented prediction). Returns the span, the token for :func:`end`,
    the prediction id and the start time (ns). Raises what the tracer raises: callers run the user's code
    without a span then.
    """
    holder = ctx.get(SCOPE_KEY)
    if holder is None and ctx.get(_SPAN_KEY) is None and not ctx.get(_BAGGAGE_KEY):
        pid = None  # no scope, no parent, no baggage: nothing to resolve, a new prediction
    else:
        pid, holder = resolve(ctx)
    fresh = pid is None
    if pid is None:
        pid = "%032x" % _getrandbits(128)  # noqa: UP031 - new_prediction_id without the call
        if holder is not None:
            holder.id = pid
    attributes[ML_PREDICTION_ID] = pid
    start_ns = _time_ns()
    span = tracer.start_span(name, ctx, attributes=attributes, start_time=start_ns)
    # The span's context in one copy (set_span_in_context + set_value would copy twice).
    new_ctx = Context(ctx)
    _dict_setitem(new_ctx, _SPAN_KEY, span)
    if holder is None:  # nested otelml spans read the id from the context, no map lookup
        _dict_setitem(new_ctx, SCOPE_KEY, pid)
    if inside:
        _dict_setitem(new_ctx, INSIDE_KEY, True)
    token = attach(new_ctx)
    # A root otelml span ends its trace in this process: nothing later could look its id up.
    if fresh and holder is None and ctx.get(_SPAN_KEY) is not None:
        remember_for_trace(span.get_span_context().trace_id, pid)
    return span, token, pid, start_ns


def fail(span: Span, error: BaseException) -> None:
    """The wrapped code raised ``error``: the exception event and the error status on ``span``."""
    try:
        if span.is_recording():
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__qualname__}: {error}"))
    except Exception as exc:
        log_once(f"recording an error on {_span_name(span)}", exc)


def end(span: Span, token: Token[Any] | None) -> None:
    """End ``span`` and detach the context :func:`start` attached (``token``)."""
    try:
        span.end()
    except Exception as exc:
        log_once(f"ending {_span_name(span)}", exc)
    if token is not None:
        try:
            detach(token)
        except Exception as exc:  # a token of another context (the API's detach logs it too)
            log_once(f"detaching the context of {_span_name(span)}", exc)


def emit(tracer: trace.Tracer, name: str, attributes: dict[str, Any], links: list[Link] | None,
         start_ns: int) -> None:
    """A span that starts and ends at once, outside the prediction scope (``label {model}``)."""
    tracer.start_span(name, attributes=attributes, links=links, start_time=start_ns).end()


def start_root(tracer: trace.Tracer, name: str, ctx: Context) -> Span:
    """A span that is not made current by itself (the ``prediction`` scope root); end it with :func:`end`."""
    return tracer.start_span(name, ctx)


def _span_name(span: Span) -> str:
    return repr(getattr(span, "name", "the span"))


# The logs signal: OpenTelemetry's logs API and SDK are still private modules (``opentelemetry._logs``,
# ``opentelemetry.sdk._logs``, the OTLP exporters' ``_log_exporter``); otelml emits log records through these.


LOG_INFO = _logs.SeverityNumber.INFO
global_logger_provider = _logs.get_logger_provider


def log_recorder(resource: Any) -> tuple[Any, Any]:
    """An SDK logger provider that keeps its records in memory (no thread), and that memory."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    return provider, memory


def emit_log(provider: Any, scope: str, *, body: str, warning: bool, event_name: str,
             attributes: dict[str, Any]) -> None:
    """One log record (severity WARN or INFO) from ``provider``'s logger ``scope``."""
    severity = _logs.SeverityNumber.WARN if warning else LOG_INFO
    provider.get_logger(scope).emit(_logs.LogRecord(
        timestamp=time.time_ns(), severity_number=severity, severity_text=severity.name, body=body,
        event_name=event_name, attributes=attributes))


def otlp_log_exporter(grpc: bool, timeout: float | None) -> Any:
    """The OTLP log exporter of the SDK (gRPC or HTTP/protobuf), configured from ``OTEL_EXPORTER_OTLP_*``."""
    if grpc:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # type: ignore[assignment]
            OTLPLogExporter,
        )
    return OTLPLogExporter(timeout=timeout)


def export_logs(exporter: Any, memory: Any) -> bool:
    """Export the records in ``memory`` (of :func:`log_recorder`) once; True when the exporter succeeded."""
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    return bool(exporter.export(memory.get_finished_logs()) == LogRecordExportResult.SUCCESS)
