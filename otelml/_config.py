"""The one frozen capture/settings config of the otelml library.

Each field is resolved as: explicit ``configure()`` argument -> ``OTELML_*`` environment variable ->
default (see :mod:`otelml.environment_variables`). An unparsable environment value is logged as a
warning naming the variable and the default is used; an impossible explicit argument raises
``ValueError`` naming the argument. ``configure(**kw)`` builds a new config and makes it the active one;
``get_config()`` returns the active config (built from the environment on first use).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from otelml import environment_variables as ev

__all__ = ["OtelmlConfig", "configure", "get_config"]

_log = logging.getLogger("otelml")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class OtelmlConfig:
    """Capture policy and library settings. Immutable: use ``otelml.configure`` to change it."""

    capture_features: bool = True
    """Record ``ml.feature.<name>`` attributes (env ``OTELML_CAPTURE_FEATURES``)."""
    redact_features: frozenset[str] = frozenset()
    """Features whose value becomes ``"[REDACTED]"`` (env ``OTELML_REDACT_FEATURES``)."""
    hash_features: frozenset[str] = frozenset()
    """Features whose value becomes ``"sha256:<hex>"`` of salt + value (env ``OTELML_HASH_FEATURES``)."""
    drop_features: frozenset[str] = frozenset()
    """Features that get no attribute at all (env ``OTELML_DROP_FEATURES``)."""
    hash_salt: str = ""
    """Salt for hashed features (env ``OTELML_HASH_SALT``)."""
    max_batch_rows: int = 100
    """Rows captured per batch call before uniform sampling (env ``OTELML_MAX_BATCH_ROWS``)."""
    max_attributes: int = 100
    """Maximum ``ml.feature.*`` attributes per span (env ``OTELML_MAX_ATTRIBUTES``)."""
    max_string_length: int = 256
    """String values are truncated to this length (env ``OTELML_MAX_STRING_LENGTH``)."""
    log_predictions: bool = False
    """Emit one log record per prediction (env ``OTELML_LOG_PREDICTIONS``)."""
    metrics: bool = True
    """Record library metrics (env ``OTELML_METRICS``)."""


_ENV: dict[str, str] = {
    "capture_features": ev.OTELML_CAPTURE_FEATURES,
    "redact_features": ev.OTELML_REDACT_FEATURES,
    "hash_features": ev.OTELML_HASH_FEATURES,
    "drop_features": ev.OTELML_DROP_FEATURES,
    "hash_salt": ev.OTELML_HASH_SALT,
    "max_batch_rows": ev.OTELML_MAX_BATCH_ROWS,
    "max_attributes": ev.OTELML_MAX_ATTRIBUTES,
    "max_string_length": ev.OTELML_MAX_STRING_LENGTH,
    "log_predictions": ev.OTELML_LOG_PREDICTIONS,
    "metrics": ev.OTELML_METRICS,
}
# Smallest allowed value of each integer field (max_attributes=0 means "no feature attributes").
_INT_MIN = {"max_batch_rows": 1, "max_attributes": 0, "max_string_length": 1}
_BOOLS = ("capture_features", "log_predictions", "metrics")
_SETS = ("redact_features", "hash_features", "drop_features")
_DEFAULTS = OtelmlConfig()


def _split_names(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _from_argument(name: str, value: Any) -> Any:
    """Validate an explicit argument; raise ValueError naming it when impossible."""
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"otelml.configure: {name} must be True or False, got {value!r}")
        return value
    if name in _SETS:
        if isinstance(value, str):
            return _split_names(value)
        if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
            return frozenset(v.strip() for v in value if v.strip())
        raise ValueError(
            f"otelml.configure: {name} must be a comma-separated string or a list of feature names, "
            f"got {value!r}"
        )
    if name == "hash_salt":
        if not isinstance(value, str):
            raise ValueError(f"otelml.configure: hash_salt must be a string, got {value!r}")
        return value
    lowest = _INT_MIN[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise ValueError(f"otelml.configure: {name} must be an integer >= {lowest}, got {value!r}")
    return value


def _from_env(name: str) -> Any:
    """Read the field's env var; on an unparsable value warn (naming the variable) and use the default."""
    var = _ENV[name]
    raw = os.environ.get(var)
    default = getattr(_DEFAULTS, name)
    if raw is None or (raw.strip() == "" and name not in _SETS and name != "hash_salt"):
        return default
    if name in _SETS:
        return _split_names(raw)
    if name == "hash_salt":
        return raw
    text = raw.strip().lower()
    if name in _BOOLS:
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        _log.warning("otelml: %s=%r is not true/false; using the default %r", var, raw, default)
        return default
    lowest = _INT_MIN[name]
    try:
        number = int(text)
    except ValueError:
        number = lowest - 1
    if number < lowest:
        _log.warning("otelml: %s=%r is not an integer >= %d; using the default %r", var, raw, lowest, default)
        return default
    return number


def build_config(**kwargs: Any) -> OtelmlConfig:
    """Build a config from arguments (``None`` = not given), then ``OTELML_*`` env, then defaults."""
    unknown = set(kwargs) - set(_ENV)
    if unknown:
        raise TypeError(
            f"otelml.configure: unknown setting(s) {sorted(unknown)}; known settings are {sorted(_ENV)}"
        )
    values: dict[str, Any] = {}
    for f in fields(OtelmlConfig):
        given = kwargs.get(f.name)
        values[f.name] = _from_env(f.name) if given is None else _from_argument(f.name, given)
    _check_overlap(values, {k for k in _SETS if kwargs.get(k) is not None})
    if values["hash_features"] and not values["hash_salt"]:
        _log.warning(
            "otelml: features %s are hashed without a salt; set OTELML_HASH_SALT (or hash_salt=) so "
            "hashes cannot be reversed by guessing values",
            sorted(values["hash_features"]),
        )
    return OtelmlConfig(**values)


def _check_overlap(values: dict[str, Any], explicit: set[str]) -> None:
    """A feature in several masking lists: the strictest wins (drop > redact > hash).

    Two explicit arguments that disagree are a mistake the caller can fix, so they raise.
    """
    order = ("drop_features", "redact_features", "hash_features")
    for i, stricter in enumerate(order):
        for weaker in order[i + 1 :]:
            both = values[stricter] & values[weaker]
            if not both:
                continue
            if stricter in explicit and weaker in explicit:
                raise ValueError(
                    f"otelml.configure: feature(s) {sorted(both)} are in both {stricter} and {weaker}; "
                    "list each feature in one of them"
                )
            _log.warning(
                "otelml: feature(s) %s are in both %s and %s; applying %s",
                sorted(both), _ENV[stricter], _ENV[weaker], stricter.split("_")[0],
            )
            values[weaker] = values[weaker] - both


_lock = threading.Lock()
_active: OtelmlConfig | None = None


def get_config() -> OtelmlConfig:
    """The active config; built from the environment on first use."""
    config = _active
    if config is None:
        with _lock:
            config = _active
            if config is None:
                config = _set(build_config())
    return config


def configure(**kwargs: Any) -> OtelmlConfig:
    """Replace the active config: given arguments, then ``OTELML_*`` env, then defaults. Returns it."""
    config = build_config(**kwargs)
    with _lock:
        _set(config)
    return config


def _set(config: OtelmlConfig) -> OtelmlConfig:
    global _active
    _active = config
    return config
