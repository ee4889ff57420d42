"""The `drift` expectation: a column scored against its baseline profile by `otelml.stats` (the one
statistics core shared with `otelml baseline build` and the sidecar's drift processor)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from otelml.quality._errors import QualityError
from otelml.quality._model import Example, Expectation, ExpectationResult

__all__ = ["check_drift", "load_baseline_file", "validate_method"]


def load_baseline_file(path: str | os.PathLike[str]) -> Any:
    from otelml.stats import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as exc:
        raise QualityError(str(exc)) from None


def validate_method(method: str | None) -> str | None:
    """None when `method` is a known drift method (or None = the core's default), else the problem."""
    from otelml.stats import METHODS

    if method is None or method in METHODS:
        return None
    return f"unknown drift method {method!r}; one of {', '.join(METHODS)}"


def check_drift(exp: Expectation, series: pd.Series, baseline: Any) -> ExpectationResult:
    from otelml.stats import DEFAULT_CONFIG, DEFAULT_MIN_SAMPLES, DriftConfig, score_values

    n = len(series)
    try:
        profile = baseline.feature(exp.column)
    except KeyError:
        names = ", ".join(sorted(baseline.features)[:12])
        return ExpectationResult(exp, False, element_count=n, message=(
            f"column {exp.column!r} is not in the baseline of model {baseline.model!r} (it has: {names}); "
            "rebuild the baseline with this column or drop the drift check"))
    method, threshold = exp.params.get("method"), exp.params.get("threshold")
    config = DEFAULT_CONFIG
    if threshold is not None and method is not None:
        config = DriftConfig(thresholds={method: threshold})
    elif threshold is not None:
        default = "wasserstein" if profile.kind == "numeric" else "js"
        method, config = default, DriftConfig(thresholds={default: threshold})
    try:
        s = score_values(profile, series, method, config)
    except ValueError as exc:
        return ExpectationResult(exp, False, element_count=n, message=f"column {exp.column!r}: {exc}")
    observed = {"method": s.method, "value": float(s.value), "threshold": float(s.threshold), "n": int(s.n)}
    res = ExpectationResult(exp, not s.drifted, observed_value=observed, element_count=n,
                            missing_count=n - int(s.n))
    if s.n < DEFAULT_MIN_SAMPLES:
        res.message = f"only {s.n} values; drift scores on fewer than {DEFAULT_MIN_SAMPLES} are mostly noise"
    if s.drifted and s.top_bins:
        # Rows from the bins that gained the most mass explain the score: show a few.
        bins = profile.bin_index(series)
        positions = np.flatnonzero(np.isin(bins, s.top_bins[:2]))
        res.unexpected_positions = positions
        take = positions[:5]
        res.examples = [Example(r, v) for r, v in
                        zip(series.index[take].tolist(), series.iloc[take].tolist(), strict=True)]
    return res
