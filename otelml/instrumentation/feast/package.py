"""Library versions this instrumentor supports (checked by ``BaseInstrumentor.instrument``)."""

from __future__ import annotations

_instruments = ("feast >= 0.40",)
