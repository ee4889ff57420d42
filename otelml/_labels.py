"""Ground-truth labels: ``record_label`` emits a ``label {model}`` span tied to an earlier prediction.

In-process, the inference span of each recent prediction is remembered (a bounded, insertion-ordered
map of prediction id -> span context, time, model), so the label span links to it and carries
``ml.label.delay``. A separate feedback service passes what it stored with the prediction instead:
``prediction_time=`` and ``span_context=`` or ``traceparent=``.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime
from itertools import islice
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from otelml import _errors, _scope, _telemetry
from otelml.semconv import (
    ML_LABEL_DELAY,
    ML_LABEL_VALUE,
    ML_MODEL_NAME,
    ML_MODEL_VERSION,
    ML_OPERATION_NAME,
    ML_PREDICTION_ID,
    OPERATION_LABEL,
    SPAN_NAME_LABEL,
)

__all__ = ["record_label"]

MAX_REMEMBERED = 10_000
_TRACECONTEXT = TraceContextTextMapPropagator()


# pid -> (trace id, span id, trace flags, trace state or None, start ns, model, version). A plain tuple of
# ints and strings, which CPython's garbage collector stops tracking: ten thousand remembered predictions
# then cost the collector nothing (a SpanContext, a tuple subclass, would stay tracked).
_Remembered = tuple[int, int, int, Any, int, str | None, str | None]
# Written on every prediction, so no lock: `setdefault` is one atomic dict operation under the GIL and a
# dict keeps insertion order; the oldest entries are trimmed in batches (amortised) by whoever gets the lock.
_recent: dict[str, _Remembered] = {}
_trim_lock = threading.Lock()


def remember_prediction(pid: str, span_context: SpanContext, time_ns: int, model: str | None,
                        version: str | None) -> None:
    """Remember the first inference span of ``pid``; beyond ``MAX_REMEMBERED`` (+10%) the oldest go."""
    # A SpanContext is the tuple (trace id, span id, is remote, flags, state, is valid): unpacked in C,
    # where its properties would be four Python calls.
    trace_id, span_id, _, flags, state, _ = span_context
    if state is DEFAULT_TRACE_STATE or not state:  # the shared empty state: no Python __len__ call
        state = None
    _recent.setdefault(pid, (trace_id, span_id, int(flags), state, time_ns, model, version))
    if len(_recent) > MAX_REMEMBERED + MAX_REMEMBERED // 10:
        _trim()


def _trim() -> None:
    if not _trim_lock.acquire(blocking=False):
        return  # another thread is trimming
    try:
        excess = len(_recent) - MAX_REMEMBERED
        if excess > 0:
            # list(islice(...)) runs in C without releasing the GIL: no insert can interleave.
            for pid in list(islice(_recent, excess)):
                _recent.pop(pid, None)
    except RuntimeError:  # dict changed during iteration (free-threaded build): trim on a later call
        pass
    finally:
        _trim_lock.release()


def _label_value(value: Any) -> bool | int | float | str:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"otelml.record_label: value must be a bool, int, float or str (the ground truth), got "
        f"{type(value).__name__} {value!r}"
    )


def _time_ns(prediction_time: datetime | float | int) -> int:
    if isinstance(prediction_time, datetime):
        if prediction_time.tzinfo is None:
            raise ValueError("otelml.record_label: prediction_time must be timezone-aware (e.g. UTC)")
        return int(prediction_time.timestamp() * 1e9)
    if isinstance(prediction_time, (int, float)) and not isinstance(prediction_time, bool):
        return int(prediction_time * 1e9)
    raise ValueError(
        "otelml.record_label: prediction_time must be a timezone-aware datetime or epoch seconds, got "
        f"{prediction_time!r}"
    )


def _from_traceparent(traceparent: str) -> SpanContext | None:
    ctx = _TRACECONTEXT.extract({"traceparent": traceparent})
    span_context = trace.get_current_span(ctx).get_span_context()
    if not span_context.is_valid:
        _errors.log_once(
            "otelml.record_label: parsing traceparent",
            ValueError(f"traceparent {traceparent!r} is not a W3C traceparent "
                       "('00-<32 hex>-<16 hex>-<2 hex>'); the label is recorded without a link"),
        )
        return None
    return span_context


def record_label(
    prediction_id: str,
    value: Any,
    model: str | None = None,
    version: str | None = None,
    *,
    prediction_time: datetime | float | None = None,
    span_context: SpanContext | None = None,
    traceparent: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Record the ground truth ``value`` of the prediction ``prediction_id``.

    Emits a ``label {model}`` span with ``ml.label.value`` and ``ml.prediction.id``; ``ml.label.delay``
    (seconds) when the prediction time is known and a link to the prediction's span when its context is
    known - from this process's recent predictions, or from ``prediction_time`` (datetime or epoch
    seconds) and ``span_context`` / ``traceparent`` stored by the caller. Raises ``ValueError`` only for
    arguments that leave nothing to record (bad id or value); other problems are logged.
    """
    if not _scope.valid_prediction_id(prediction_id):
        raise ValueError(
            "otelml.record_label: prediction_id must be the id returned with the prediction (a printable "
            f"string of 1-{_scope.MAX_ID_LENGTH} characters), got {prediction_id!r}"
        )
    label = _label_value(value)
    when = None if prediction_time is None else _time_ns(prediction_time)
    try:
        known = _recent.get(prediction_id)
        if span_context is None and traceparent is not None:
            span_context = _from_traceparent(traceparent)
        if known is not None:
            trace_id, span_id, flags, state, known_ns, known_model, known_version = known
            span_context = span_context or SpanContext(trace_id, span_id, False, TraceFlags(flags), state)
            when = known_ns if when is None else when
            model = model or known_model
            version = version or known_version
        attrs: dict[str, Any] = {ML_OPERATION_NAME: OPERATION_LABEL, ML_PREDICTION_ID: prediction_id,
                                 ML_LABEL_VALUE: label}
        if model is not None:
            attrs[ML_MODEL_NAME] = model
        if version is not None:
            attrs[ML_MODEL_VERSION] = version
        now = time.time_ns()
        if when is not None:
            attrs[ML_LABEL_DELAY] = max(0.0, (now - when) / 1e9)
        if attributes:
            attrs.update(attributes)
        links = [Link(span_context)] if span_context is not None and span_context.is_valid else None
        name = SPAN_NAME_LABEL.format(model=model) if model else OPERATION_LABEL
        span = _telemetry.tracer().start_span(name, attributes=attrs, links=links, start_time=now)
        span.end()
    except Exception as exc:
        _errors.log_once("otelml.record_label", exc)
