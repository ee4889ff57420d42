"""The performance metrics live in the statistics core (`otelml.stats.performance`), shared with
`otelml baseline build --score`; re-exported here for the processor."""

from __future__ import annotations

from otelml.stats.performance import (
    BINARY,
    HIGHER_IS_BETTER,
    MULTICLASS,
    REGRESSION,
    Calibration,
    binary_metrics,
    estimated_binary,
    multiclass_metrics,
    regression_metrics,
    roc_auc,
)

__all__ = [
    "BINARY",
    "HIGHER_IS_BETTER",
    "MULTICLASS",
    "REGRESSION",
    "Calibration",
    "binary_metrics",
    "estimated_binary",
    "multiclass_metrics",
    "regression_metrics",
    "roc_auc",
]
