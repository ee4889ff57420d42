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
from collections import deque
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


# (pid, trace id, span id, trace flags, trace state or None, start ns, model, version). A plain tuple of
# ints and strings, which CPython's garbage collector stops tracking: ten thousand remembered predictions
# then cost the collector nothing (a SpanContext, a tuple subclass, would stay tracked).
_Remembered = tuple[str, int, int, int, Any, int, str | None, str | None]


class _Memory:
    """The recent predictions: a ring buffer written on every prediction, indexed only when a label
    looks one up.

    Appending to a bounded deque is one atomic C call that touches memory in order, and the oldest
    entries fall off by themselves (a dict keyed by id hashes a random id into a large table and must
    be trimmed). ``record_label`` indexes what was appended since its last lookup; the index is rebuilt
    once it holds twice the bound, so an id is found for at least the last ``size`` predictions.
    """

    __slots__ = ("index", "indexed_last", "lock", "recent", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.recent: deque[_Remembered] = deque(maxlen=size)
        self.index: dict[str, _Remembered] = {}
        self.indexed_last: _Remembered | None = None
        self.lock = threading.Lock()

    def lookup(self, pid: str) -> _Remembered | None:
        """The first remembered inference span of ``pid``, or None."""
        entry = self.index.get(pid)
        if entry is not None:
            return entry
        with self.lock:
            recent = self.recent
            if not recent or recent[-1] is self.indexed_last:
                return None
            snapshot = list(recent)  # one C call: no append interleaves
            start = 0
            last = self.indexed_last
            if last is not None and len(self.index) < 2 * self.size:
                for i in range(len(snapshot) - 1, -1, -1):
                    if snapshot[i] is last:
                        start = i + 1
                        break
            else:
                self.index.clear()
            index = self.index
            for item in islice(snapshot, start, None):
                index.setdefault(item[0], item)  # the first span of a prediction wins
            self.indexed_last = snapshot[-1]
            return index.get(pid)


_memory = _Memory(MAX_REMEMBERED)


def remember_prediction(pid: str, span_context: SpanContext, time_ns: int, model: str | None,
                        version: str | None) -> None:
    """Remember the inference span of ``pid`` (the last ``MAX_REMEMBERED`` predictions are kept)."""
    # A SpanContext is the tuple (trace id, span id, is remote, flags, state, is valid): unpacked in C,
    # where its properties would be four Python calls.
    trace_id, span_id, _, flags, state, _ = span_context
    # The shared empty state is tested first: no Python __len__ call.
    kept = None if state is DEFAULT_TRACE_STATE or not state else state
    _memory.recent.append((pid, trace_id, span_id, int(flags), kept, time_ns, model, version))


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
        known = _memory.lookup(prediction_id)
        if span_context is None and traceparent is not None:
            span_context = _from_traceparent(traceparent)
        if known is not None:
            _, trace_id, span_id, flags, state, known_ns, known_model, known_version = known
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
