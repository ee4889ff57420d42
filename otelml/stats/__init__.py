"""otelml's one statistics core: profiles, streaming windows, drift methods and the baseline file.

Used by the sidecar's drift processor, ``otelml baseline build`` and ``otelml validate``; numpy only
(scipy for the chi² p-value). Typical streaming use (the sidecar)::

    baseline = load_baseline("baseline.json")
    profile = baseline.features["age"]
    window = profile.new_window()
    bins = window.update(column_of_values)      # bin per value (-1 = missing): file exemplars by bin
    ...                                         # more chunks; window.merge(other); window.to_dict()
    for s in evaluate(profile, window, n_tests=len(baseline.features)):
        emit(s.method, s.value)                 # ml.feature.drift
        if s.alert: alert(s, exemplar_from=s.top_bins)

All columns of a window at once (same scores, one set of numpy calls):
``evaluate_many(profiles, windows, n_tests=[...])``.

Batch use (the quality gate): ``score_values(profile, df[col], method="wasserstein")``.

Bins of a numeric profile: bin 0 = below the reference minimum, 1..len(edges)-1 = quantile bins,
last = above the reference maximum. Categorical: one bin per top-K category, last = "other".
Methods and defaults are documented in ``otelml.stats._drift`` and docs/baseline-format.md.
"""

from __future__ import annotations

from otelml.stats._baseline import (
    FORMAT,
    FORMAT_VERSION,
    Baseline,
    BaselineError,
    build_baseline,
    load_baseline,
)
from otelml.stats._drift import (
    DEFAULT_CONFIG,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLDS,
    METHODS,
    P_VALUE_METHODS,
    DriftConfig,
    DriftScore,
    evaluate,
    evaluate_many,
    score,
    score_values,
)
from otelml.stats._many import update_numeric
from otelml.stats._profile import (
    DEFAULT_BINS,
    DEFAULT_TOP_K,
    CategoricalProfile,
    NumericProfile,
    Profile,
    profile_categorical,
    profile_column,
    profile_from_dict,
    profile_numeric,
)
from otelml.stats._window import CategoricalWindow, NumericWindow, Window, window_from_dict

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_CONFIG",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_TOP_K",
    "FORMAT",
    "FORMAT_VERSION",
    "METHODS",
    "P_VALUE_METHODS",
    "Baseline",
    "BaselineError",
    "CategoricalProfile",
    "CategoricalWindow",
    "DriftConfig",
    "DriftScore",
    "NumericProfile",
    "NumericWindow",
    "Profile",
    "Window",
    "build_baseline",
    "evaluate",
    "evaluate_many",
    "load_baseline",
    "profile_categorical",
    "profile_column",
    "profile_from_dict",
    "profile_numeric",
    "score",
    "score_values",
    "update_numeric",
    "window_from_dict",
]
