"""otelml's ML semantic conventions: attribute, span-name and metric constants, generated from
``registry.yaml`` (see docs/semconv.md), plus the documented feature-name normalisation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from otelml.semconv import _attributes
from otelml.semconv._attributes import *  # noqa: F403

_INVALID_RUN = re.compile(r"[^a-z0-9_]+")


@lru_cache(maxsize=4096)
def _normalize(name: str) -> str:
    return _INVALID_RUN.sub("_", name.lower()).strip("_")


def normalize_feature_name(name: object, index: int = 0) -> str:
    """The ``ml.feature.<name>`` suffix for one feature name.

    Lower-cases, replaces every run of characters outside ``[a-z0-9_]`` by one underscore and strips
    leading/trailing underscores; an empty result becomes ``f<index>`` (``index`` = the column position).
    """
    normalized = _normalize(name if isinstance(name, str) else str(name))
    return normalized or f"f{index}"


def normalize_feature_names(names: Iterable[object]) -> list[str]:
    """Normalise a model's column names in order; a name that collides with an earlier one gets
    ``_2``, ``_3``... (the first keeps the plain name)."""
    out: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        base = normalize_feature_name(name, index)
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def feature_attribute_key(name: object, index: int = 0) -> str:
    """``ml.feature.<normalised name>`` for one feature."""
    return _attributes.ML_FEATURE_PREFIX + normalize_feature_name(name, index)


__all__ = [
    *_attributes.__all__,
    "feature_attribute_key",
    "normalize_feature_name",
    "normalize_feature_names",
]
