"""otelml's tracer, metric instruments and prediction log records.

Providers come from ``otelml.configure(tracer_provider=..., meter_provider=..., logger_provider=...)``
when given, else from the global OTel API (so nothing is needed when no provider is configured: the
API's no-op/proxy objects are used). ``ml.inference.duration`` is measured on the request path but
recorded off it: each duration is queued with its inference span's context and recorded into the SDK
histogram when a metric reader collects (inside that span's context, so the trace-based exemplar filter
still attaches the span's trace and span id). Beyond ``MAX_PENDING`` queued durations (a reader that
collects rarely under heavy traffic) a duration is recorded at once, as before. ``ml.predictions`` is
counted in-process and reported through an observable counter (cumulative, no exemplars), which keeps the
per-prediction cost to a dict update.
"""

from __future__ import annotations

import math
import sys
import threading
from bisect import bisect_left
from collections import deque
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context

from otelml import __version__
from otelml._lifecycle import LOG_INFO, ProxyLoggerProvider, global_logger_provider
from otelml.semconv import (
    ERROR_TYPE,
    METRIC_ML_INFERENCE_DURATION,
    METRIC_ML_PREDICTIONS,
    ML_MODEL_NAME,
    ML_MODEL_VERSION,
    ML_PREDICTION_BUCKET,
    ML_PREDICTION_CLASS,
)

if TYPE_CHECKING:
    from opentelemetry import _logs

__all__ = [
    "emit_prediction_log",
    "record_duration",
    "record_inference",
    "record_predictions",
    "set_providers",
    "tracer",
]

SCOPE = "otelml"
# Seconds; from 50 µs (a single-row linear model) to 10 s (a large batch).
DURATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_LABELS_PER_MODEL = 100
MAX_PENDING = 4096
_NO_SPAN = Context()  # recorded with no current span: the trace-based exemplar filter offers nothing
OTHER = "other"

_tracer_provider: trace.TracerProvider | None = None
_meter_provider: metrics.MeterProvider | None = None
_logger_provider: _logs.LoggerProvider | None = None
_tracer: trace.Tracer | None = None
_instruments: metrics.Histogram | None = None
_totals: dict[int, list[Any]] = {}
_totals_lock = threading.Lock()
_logger: _logs.Logger | None = None
_model_attrs: dict[tuple[str, str | None], dict[str, str]] = {}
_class_attrs: dict[tuple[str, str | None, str, str], dict[str, str]] = {}
_labels_seen: dict[tuple[str, str | None, str], int] = {}
# (value, metric attributes, span context) per inference call, recorded at collection; deque.append and
# popleft are atomic, so the request path takes no lock.
_pending: deque[tuple[float, dict[str, str], SpanContext | None]] = deque()
# (model, version, task, type, value) -> the _totals entry of a single classified value: the hot path.
_scalar_entries: dict[tuple[Any, ...], list[Any]] = {}
_MAX_SCALAR_ENTRIES = 1024


def set_providers(tracer_provider: trace.TracerProvider | None = None,
                  meter_provider: metrics.MeterProvider | None = None,
                  logger_provider: _logs.LoggerProvider | None = None) -> None:
    """Use these providers instead of the global ones (``None`` leaves a signal unchanged)."""
    global _tracer_provider, _meter_provider, _logger_provider, _tracer, _instruments, _logger
    if tracer_provider is not None:
        _tracer_provider, _tracer = tracer_provider, None
    if meter_provider is not None:
        _meter_provider, _instruments = meter_provider, None
        _forget_counts()
    if logger_provider is not None:
        _logger_provider, _logger = logger_provider, None


def reset_providers() -> None:
    """Forget providers given to :func:`set_providers` and use the global ones again."""
    global _tracer_provider, _meter_provider, _logger_provider, _tracer, _instruments, _logger
    _tracer_provider = _meter_provider = _logger_provider = None
    _tracer = _instruments = _logger = None
    _forget_counts()


def _forget_counts() -> None:
    with _totals_lock:
        _totals.clear()
        _scalar_entries.clear()
        _pending.clear()


def tracer() -> trace.Tracer:
    """otelml's tracer; cached once a real (non-proxy) provider is in place."""
    global _tracer
    if _tracer is not None:
        return _tracer
    provider = _tracer_provider or trace.get_tracer_provider()
    result = provider.get_tracer(SCOPE, __version__)
    if not isinstance(provider, trace.ProxyTracerProvider):
        _tracer = result
    return result


def _get_instruments() -> metrics.Histogram:
    """The duration histogram; creating it also registers the ``ml.predictions`` observable counter."""
    global _instruments
    if _instruments is None:
        # The global proxy meter forwards to a provider set later, so caching it is safe.
        meter = (_meter_provider or metrics.get_meter_provider()).get_meter(SCOPE, __version__)
        duration = meter.create_histogram(
            METRIC_ML_INFERENCE_DURATION, unit="s", description="Duration of inference calls.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        meter.create_observable_counter(
            METRIC_ML_PREDICTIONS, callbacks=[_observe_predictions], unit="{prediction}",
            description="Predictions by model, version and predicted class or value bucket.",
        )
        _instruments = duration
    return _instruments


def _observe_predictions(options: metrics.CallbackOptions) -> list[metrics.Observation]:
    # Runs when a reader collects, before the SDK reads its storages: the durations queued since the last
    # collection are recorded now and are part of this collection.
    try:
        flush_durations()
    except Exception as exc:
        from otelml._errors import log_once

        log_once("recording ml.inference.duration", exc)
    with _totals_lock:
        return [metrics.Observation(total, attrs) for attrs, total in _totals.values()]


def _count(attrs: dict[str, str], n: int) -> list[Any]:
    # Counted in a dict and reported by the SDK at collection time: a synchronous Counter.add costs
    # about as much as a span's attributes on the hot path (see docs/library.md, "Metrics").
    key = id(attrs)  # attrs dicts are cached for the process lifetime, so their ids are stable
    with _totals_lock:
        entry = _totals.get(key)
        if entry is None:
            entry = _totals[key] = [attrs, n]
        else:
            entry[1] += n
    return entry


def model_attributes(model: str, version: str | None) -> dict[str, str]:
    """The shared metric attributes of one model version (cached: the hot path allocates nothing)."""
    key = (model, version)
    attrs = _model_attrs.get(key)
    if attrs is None:
        attrs = {ML_MODEL_NAME: model}
        if version is not None:
            attrs[ML_MODEL_VERSION] = version
        _model_attrs[key] = attrs
    return attrs


def record_duration(model: str, version: str | None, seconds: float, error: BaseException | None,
                    span_context: SpanContext | None = None) -> None:
    """Queue one ``ml.inference.duration`` measurement of the call whose span is ``span_context``."""
    histogram = _instruments or _get_instruments()
    if getattr(histogram, "_real_instrument", histogram) is None:
        return  # the API's proxy before any MeterProvider is set: the value would go nowhere
    attrs = model_attributes(model, version)
    if error is not None:
        attrs = {**attrs, ERROR_TYPE: type(error).__qualname__}
    if len(_pending) < MAX_PENDING:
        _pending.append((seconds, attrs, span_context))
    else:
        _record(histogram, seconds, attrs, span_context)


def metrics_live() -> bool:
    """False while no MeterProvider is set: the API's proxy instruments would drop every measurement."""
    histogram = _instruments or _get_instruments()
    return getattr(histogram, "_real_instrument", histogram) is not None


def record_inference(model: str, version: str | None, task: str | None, value: Any, seconds: float,
                     span_context: SpanContext) -> None:
    """One successful call: count ``value`` in ``ml.predictions`` and queue its duration.

    Both are skipped while no MeterProvider is set (the API's instruments would drop them), as a
    synchronous OTel counter drops what is recorded before its provider exists.
    """
    histogram = _instruments or _get_instruments()
    if getattr(histogram, "_real_instrument", histogram) is None:  # metrics_live(), inlined: per prediction
        return
    if value is not None:
        record_predictions(model, version, value, task)
    record_duration(model, version, seconds, None, span_context)


def _record(histogram: metrics.Histogram, seconds: float, attrs: dict[str, str],
            span_context: SpanContext | None) -> None:
    ctx = _NO_SPAN if span_context is None else set_span_in_context(NonRecordingSpan(span_context))
    histogram.record(seconds, attrs, context=ctx)


def flush_durations() -> None:
    """Record every queued duration now (called on collection; also usable before a forced flush).

    The SDK's histogram keeps, per series and bucket, the last measurement offered as exemplar, so
    only the last queued duration of each (series, bucket) is offered with its span's context; the
    others are recorded without a span, which gives the same exemplars for about a third less CPU.
    """
    if not _pending:
        return
    histogram = _get_instruments()
    popleft = _pending.popleft
    batch = []
    while True:
        try:
            batch.append(popleft())
        except IndexError:
            break
    seen: set[tuple[int, int]] = set()
    last = [False] * len(batch)
    for i in range(len(batch) - 1, -1, -1):
        seconds, attrs, _ = batch[i]
        key = (id(attrs), bisect_left(DURATION_BUCKETS, seconds))
        if key not in seen:
            seen.add(key)
            last[i] = True
    for (seconds, attrs, span_context), offered in zip(batch, last, strict=True):
        if offered:
            _record(histogram, seconds, attrs, span_context)
        else:
            histogram.record(seconds, attrs, context=_NO_SPAN)


def bucket(value: float) -> str:
    """The decade of a regression output, e.g. 42.0 -> "[10,100)", -0.5 -> "[-1,-0.1)"."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    low = 10.0 ** math.floor(math.log10(abs(value)))
    if value > 0:
        return f"[{low:g},{low * 10:g})"
    return f"[{-low * 10:g},{-low:g})"


def _label_attributes(model: str, version: str | None, kind: str, label: str) -> dict[str, str]:
    """Model attributes plus the class/bucket; after 100 distinct labels per model, "other"."""
    key = (model, version, kind, label)
    attrs = _class_attrs.get(key)
    if attrs is not None:
        return attrs
    seen_key = (model, version, kind)
    if _labels_seen.get(seen_key, 0) >= MAX_LABELS_PER_MODEL:
        label, key = OTHER, (model, version, kind, OTHER)
        attrs = _class_attrs.get(key)
        if attrs is not None:
            return attrs
    else:
        _labels_seen[seen_key] = _labels_seen.get(seen_key, 0) + 1
    attrs = {**model_attributes(model, version), kind: label}
    _class_attrs[key] = attrs
    return attrs


def _counts(value: Any, classify: bool) -> list[tuple[str, int]]:
    """(class or bucket label, count) for a prediction value: scalar, sequence or numpy array."""
    np = sys.modules.get("numpy")
    if np is not None and not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "to_numpy"):
        value = value.to_numpy()  # pandas Series / DataFrame
    if np is not None and isinstance(value, np.ndarray):
        if value.size == 1:
            value = value.item()
        elif value.ndim == 1:
            if classify:
                labels, counts = np.unique(value, return_counts=True)
                return [(str(v), int(c)) for v, c in zip(labels.tolist(), counts.tolist(), strict=True)]
            value = value.tolist()
        else:
            return [("", int(value.shape[0]))]  # multi-output: counted without a class
    elif np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        tally: dict[str, int] = {}
        for v in value:
            label = _one_label(v, classify)
            tally[label] = tally.get(label, 0) + 1
        return list(tally.items())
    return [(_one_label(value, classify), 1)]


def _one_label(value: Any, classify: bool) -> str:
    if not classify and isinstance(value, (int, float)) and not isinstance(value, bool):
        return bucket(float(value))
    return str(value)


def record_predictions(model: str, version: str | None, value: Any, task: str | None) -> None:
    """Count the predictions in ``value`` by class (classifiers) or value decade (regressors)."""
    value_type = type(value)
    if task == "classification" and (value_type is int or value_type is str or value_type is bool):
        # One classified row (the common case): its counter entry is cached.
        key = (model, version, value_type, value)
        entry = _scalar_entries.get(key)
        if entry is not None:
            with _totals_lock:
                entry[1] += 1
            return
        if _instruments is None:
            _get_instruments()
        entry = _count(_label_attributes(model, version, ML_PREDICTION_CLASS, str(value)), 1)
        if len(_scalar_entries) < _MAX_SCALAR_ENTRIES:
            _scalar_entries[key] = entry
        return
    classify = task != "regression" and (task == "classification" or not _is_float_output(value))
    kind = ML_PREDICTION_CLASS if classify else ML_PREDICTION_BUCKET
    _get_instruments()
    for label, count in _counts(value, classify):
        if label == "":
            _count(model_attributes(model, version), count)
        else:
            _count(_label_attributes(model, version, kind, label), count)


def _is_float_output(value: Any) -> bool:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind == "f"
    if isinstance(value, (list, tuple)):
        return bool(value) and isinstance(value[0], float)
    return isinstance(value, float)


def _get_logger() -> _logs.Logger:
    global _logger
    if _logger is not None:
        return _logger
    provider = _logger_provider or global_logger_provider()
    result = provider.get_logger(SCOPE, __version__)
    if not isinstance(provider, ProxyLoggerProvider):
        _logger = result
    return result


def emit_prediction_log(ctx: Context, attributes: dict[str, Any], body: dict[str, Any]) -> None:
    """One INFO log record ``ml.prediction`` with the (already masked) inputs and outputs."""
    _get_logger().emit(
        context=ctx,
        severity_number=LOG_INFO,
        severity_text="INFO",
        event_name="ml.prediction",
        body=body,
        attributes=attributes,
    )
