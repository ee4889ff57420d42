"""Carries ``ml.prediction.id`` across processes as a W3C baggage entry.

:class:`PredictionIdPropagator` injects the current prediction id into the ``baggage`` header (keeping
every other baggage entry of the context) and extracts it from incoming requests. ``import otelml.auto``
composites it into the global propagator after tracecontext and baggage; it is also registered as the
``otelml`` entry of ``opentelemetry_propagator``, so ``OTEL_PROPAGATORS=tracecontext,baggage,otelml``
works with the SDK's own configuration.
"""

from __future__ import annotations

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from otelml import _errors, _scope
from otelml.semconv import ML_PREDICTION_ID

__all__ = ["PredictionIdPropagator", "install_global_propagator"]

_W3C_BAGGAGE = W3CBaggagePropagator()


class PredictionIdPropagator(TextMapPropagator):
    """W3C-baggage propagation of the otelml prediction id."""

    def extract(self, carrier: CarrierT, context: Context | None = None,
                getter: Getter[CarrierT] = default_getter) -> Context:  # type: ignore[assignment]
        try:
            pid = baggage.get_baggage(ML_PREDICTION_ID, _W3C_BAGGAGE.extract(carrier, Context(), getter))
            if pid is not None and _scope.valid_prediction_id(pid):
                return baggage.set_baggage(ML_PREDICTION_ID, pid, context)
        except Exception as exc:
            _errors.log_once("extracting ml.prediction.id from incoming baggage", exc)
        return context if context is not None else Context()

    def inject(self, carrier: CarrierT, context: Context | None = None,
               setter: Setter[CarrierT] = default_setter) -> None:  # type: ignore[assignment]
        try:
            pid, _ = _scope.resolve(context)
            if pid is None or baggage.get_baggage(ML_PREDICTION_ID, context) == pid:
                return  # nothing to add, or the baggage propagator already wrote it
            # Rewrites the whole header: every baggage entry of the context plus the prediction id.
            _W3C_BAGGAGE.inject(carrier, baggage.set_baggage(ML_PREDICTION_ID, pid, context), setter)
        except Exception as exc:
            _errors.log_once("injecting ml.prediction.id into outgoing baggage", exc)

    @property
    def fields(self) -> set[str]:
        return {"baggage"}


def install_global_propagator() -> TextMapPropagator:
    """Add :class:`PredictionIdPropagator` to the global propagator (idempotent), keeping the others."""
    # Imported here: importing opentelemetry.propagate loads OTEL_PROPAGATORS entry points, this one too.
    from opentelemetry import propagate

    current = propagate.get_global_textmap()
    members = list(getattr(current, "_propagators", [current]))
    if any(isinstance(p, PredictionIdPropagator) for p in members):
        return current
    composite = CompositePropagator([*members, PredictionIdPropagator()])
    propagate.set_global_textmap(composite)
    return composite
