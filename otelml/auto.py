"""``import otelml.auto``: one line that makes every prediction a trace.

On import it

1. configures the tracer, meter and logger providers from the standard ``OTEL_*`` variables
   (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER`` - default
   ``otlp``, ``none`` to disable -, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL``
   (``grpc`` or ``http/protobuf``) and the per-signal variants, sampler and batch settings) - each only
   when the application has not set that provider itself; nothing when ``OTEL_SDK_DISABLED=true``;
2. adds otelml's prediction-id propagator to the global propagator (tracecontext and baggage stay);
3. instruments every otelml instrumentor (``opentelemetry_instrumentor`` entry points of the otelml
   distribution) whose library is importable, except those named in
   ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (e.g. ``sklearn``).

It never raises into the application: failures are logged on the ``otelml`` logger. Import it before
the application creates its web app or models. The outcome is in :data:`state`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED

from otelml._propagation import install_global_propagator

__all__ = ["AutoState", "setup", "state"]

_log = logging.getLogger("otelml")
Signal = Literal["traces", "metrics", "logs"]
_DISABLED_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_EXPORTER_ENV = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER",
                 "logs": "OTEL_LOGS_EXPORTER"}


@dataclass
class AutoState:
    """What ``import otelml.auto`` did."""

    configured: list[str] = field(default_factory=list)
    """Signals whose provider otelml created (the others were the application's, or disabled)."""
    instrumented: list[str] = field(default_factory=list)
    """Entry-point names of the instrumentors otelml turned on."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Instrumentors not turned on, with the reason."""


state = AutoState()


def _exporter_classes(signal: Signal) -> list[Any]:
    """Exporter classes named by ``OTEL_<SIGNAL>_EXPORTER`` (default ``otlp``), resolved the SDK's way."""
    from opentelemetry.sdk._configuration import _get_exporter_entry_point, _import_exporters

    names = os.environ.get(_EXPORTER_ENV[signal], "otlp").strip()
    if not names or names.lower() == "none":
        return []
    resolved = [_get_exporter_entry_point(n.strip(), signal) for n in names.split(",") if n.strip()]
    empty: list[str] = []
    traces, metrics_, logs = _import_exporters(
        resolved if signal == "traces" else empty,
        resolved if signal == "metrics" else empty,
        resolved if signal == "logs" else empty,
    )
    by_signal: dict[str, dict[str, Any]] = {"traces": traces, "metrics": metrics_, "logs": logs}
    return list(by_signal[signal].values())


def _configure_traces(resource: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource)  # sampler and limits from OTEL_TRACES_SAMPLER etc.
    for exporter in _exporter_classes("traces"):
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    trace.set_tracer_provider(provider)


def _configure_metrics(resource: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader

    readers = [cls() if issubclass(cls, MetricReader) else PeriodicExportingMetricReader(cls())
               for cls in _exporter_classes("metrics")]
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def _configure_logs(resource: Any) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource)
    for exporter in _exporter_classes("logs"):
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter()))
    _logs.set_logger_provider(provider)


def _configure_providers() -> None:
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    unset = {
        "traces": isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider),
        "metrics": isinstance(metrics.get_meter_provider(), _ProxyMeterProvider),
        "logs": isinstance(_logs.get_logger_provider(), ProxyLoggerProvider),
    }
    steps = {"traces": _configure_traces, "metrics": _configure_metrics, "logs": _configure_logs}
    for signal, configure in steps.items():
        if not unset[signal]:
            continue
        try:
            configure(resource)
            state.configured.append(signal)
        except Exception as exc:
            _log.warning(
                "otelml.auto: could not configure %s from %s=%r (%s); %s stay unexported. Check the "
                "exporter name and that its package is installed.",
                signal, _EXPORTER_ENV[signal], os.environ.get(_EXPORTER_ENV[signal], "otlp"), exc, signal,
            )


def _instrument_all() -> None:
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    disabled = {n.strip() for n in os.environ.get(_DISABLED_ENV, "").split(",") if n.strip()}
    for ep in entry_points(group="opentelemetry_instrumentor"):
        if not ep.value.startswith("otelml."):
            continue
        if ep.name in disabled or "*" in disabled:
            state.skipped[ep.name] = f"disabled by {_DISABLED_ENV}"
            continue
        try:
            instrumentor = ep.load()()
            conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
            if conflict is not None:
                state.skipped[ep.name] = str(conflict)
                continue
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()
            state.instrumented.append(ep.name)
        except Exception as exc:
            state.skipped[ep.name] = repr(exc)
            _log.warning("otelml.auto: instrumentor %r (%s) failed to load or instrument: %r",
                         ep.name, ep.value, exc)


def setup() -> AutoState:
    """Do what ``import otelml.auto`` does (idempotent; runs on import)."""
    for step, what in ((_configure_providers, "configuring providers"),
                       (install_global_propagator, "installing the propagator"),
                       (_instrument_all, "instrumenting libraries")):
        try:
            step()
        except Exception as exc:
            _log.warning("otelml.auto: %s failed: %r", what, exc)
    return state


setup()
