"""What one processor tells another about a model's health: typed `Finding`s (the triage seam).

The `diagnose` processor answers "data, model or system?" from what the other processors already
know. A processor that can say something implements `FindingSource.findings(model, since_unix_nano)`;
`diagnose` finds its peers through `ComponentContext.peers()` and asks every one that implements the
protocol. Nothing reaches into another processor's private state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["LAYERS", "Finding", "FindingSource", "Layer"]

Layer = Literal["data", "model", "system"]
LAYERS: tuple[Layer, ...] = ("data", "model", "system")


@dataclass(frozen=True)
class Finding:
    """A degraded signal of one model: which layer it implicates, figures, and predictions showing it."""

    layer: Layer
    signal: str  # e.g. "feature_drift", "quality_violation", "performance", "prediction_drift"
    detail: dict[str, Any]  # JSON-able figures (feature, score, threshold, reference, ...)
    trace_ids: tuple[str, ...] = ()  # lowercase hex trace ids of predictions that show it
    first_seen_unix_nano: int = 0  # earliest evidence (window start, first bad prediction)
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific, not shown by default

    def to_json(self) -> dict[str, Any]:
        return {"signal": self.signal, "detail": self.detail, "trace_ids": list(self.trace_ids)}


@runtime_checkable
class FindingSource(Protocol):
    def findings(self, model: str, since_unix_nano: int) -> list[Finding]:
        """Degraded signals of `model` (any version) seen at or after `since_unix_nano`."""
