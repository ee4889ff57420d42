"""The feedback job: days after a decision, the loan's outcome is known and recorded as a label.

It needs only what the gateway returned with the decision — the prediction id and model version, and
optionally the traceparent and time — kept in the lending system's database. `otelml.record_label` emits a
`label credit_risk` span with the outcome, the delay since the prediction, and a link to the prediction's
trace, which the sidecar and trace backends join on `ml.prediction.id`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import otelml
from examples.credit_model import MODEL_NAME

__all__ = ["Outcome", "record_outcomes"]


@dataclass(frozen=True)
class Outcome:
    prediction_id: str
    defaulted: int
    decided_at: float  # epoch seconds, stored with the decision
    model_version: str  # returned with the decision
    traceparent: str | None = None


def record_outcomes(outcomes: Iterable[Outcome]) -> int:
    """Record each outcome as a label; returns how many were recorded."""
    count = 0
    for outcome in outcomes:
        otelml.record_label(
            outcome.prediction_id,
            outcome.defaulted,
            model=MODEL_NAME,
            version=outcome.model_version,
            prediction_time=outcome.decided_at,
            traceparent=outcome.traceparent,
        )
        count += 1
    return count
