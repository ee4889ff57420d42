"""otelml: OpenTelemetry-native observability for machine-learning systems.

Every prediction becomes a trace - ``feature_lookup {view}`` -> ``inference {model}`` ->
``postprocess {step}`` - whose spans share one ``ml.prediction.id`` in every service; labels recorded
later by that id link back to the prediction. ``import otelml.auto`` sets everything up from the
standard ``OTEL_*`` variables; see docs/library.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from otelml import _config, _telemetry
from otelml._config import OtelmlConfig, get_config
from otelml._labels import record_label
from otelml._models import register_model
from otelml._propagation import PredictionIdPropagator
from otelml._scope import PredictionScope, current_prediction_id, prediction
from otelml._spans import (
    FeatureLookupSpan,
    InferenceSpan,
    PostprocessSpan,
    feature_lookup,
    inference,
    postprocess,
)

if TYPE_CHECKING:
    from opentelemetry import _logs

__all__ = [
    "FeatureLookupSpan",
    "InferenceSpan",
    "OtelmlConfig",
    "PostprocessSpan",
    "PredictionIdPropagator",
    "PredictionScope",
    "__version__",
    "configure",
    "current_prediction_id",
    "feature_lookup",
    "get_config",
    "inference",
    "postprocess",
    "prediction",
    "record_label",
    "register_model",
]


def configure(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    logger_provider: _logs.LoggerProvider | None = None,
    **settings: Any,
) -> OtelmlConfig:
    """Set the capture policy and, optionally, the providers otelml uses instead of the global ones.

    ``settings`` are the :class:`OtelmlConfig` fields (``capture_features``, ``redact_features``,
    ``hash_features``, ``drop_features``, ``hash_salt``, ``max_batch_rows``, ``max_attributes``,
    ``max_string_length``, ``log_predictions``, ``metrics``); each not given comes from its ``OTELML_*``
    variable, then the default. Called with providers only, the current settings are kept.
    """
    _telemetry.set_providers(tracer_provider, meter_provider, logger_provider)
    if settings or (tracer_provider is None and meter_provider is None and logger_provider is None):
        return _config.configure(**settings)
    return get_config()
