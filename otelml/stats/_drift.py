"""Scoring a window against its reference profile: methods, default thresholds, alert decisions.

Defaults (see docs/baseline-format.md, "Drift methods and defaults", for the measured false/true alert
rates): numeric features alert on the normalised Wasserstein distance >= 0.1 and categorical features on
the Jensen-Shannon distance >= 0.1 — Evidently's defaults above 1,000 rows — and no score is produced
below ``DEFAULT_MIN_SAMPLES`` values. PSI (0.2, the "significant" band), KS distance (0.1), L∞ (0.1) and
the chi² p-value (0.05, Bonferroni-corrected over the features of a window) are computed and reported
but do not alert unless listed in ``alert_methods``: raw p-values flag trivial differences at these
sample sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from otelml.stats import _methods
from otelml.stats._profile import CategoricalProfile, NumericProfile, Profile
from otelml.stats._window import NumericWindow, Window

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "P_VALUE_METHODS",
    "DriftConfig",
    "DriftScore",
    "evaluate",
    "score",
    "score_values",
]

METHODS = ("psi", "ks", "js", "wasserstein", "chi2", "linf")
NUMERIC_METHODS = ("wasserstein", "ks", "psi", "js")
CATEGORICAL_METHODS = ("js", "linf", "chi2", "psi")
P_VALUE_METHODS = frozenset({"chi2"})  # drift when the value is BELOW the threshold
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"psi": 0.2, "ks": 0.1, "js": 0.1, "wasserstein": 0.1, "chi2": 0.05, "linf": 0.1}
)
DEFAULT_MIN_SAMPLES = 1000


@dataclass(frozen=True)
class DriftScore:
    """One method's score of one window against its profile.

    ``contributions`` has one entry per bin of the profile (see ``otelml.stats._methods``);
    ``top_bins`` are bins where the window holds more than its reference share, most contributing first —
    the bins whose predictions explain the score (exemplars). ``alert`` is ``drifted`` for an alerting method.
    """

    method: str
    value: float
    threshold: float
    drifted: bool
    alert: bool
    n: int
    contributions: np.ndarray = field(repr=False)
    top_bins: tuple[int, ...]


@dataclass(frozen=True)
class DriftConfig:
    """Which methods to compute and which alert (per kind), thresholds, minimum window size, and whether
    p-value thresholds are Bonferroni-corrected over the features scored together.

    ``thresholds`` overrides the defaults per method (``processors.drift.thresholds.<method>``)."""

    numeric_methods: tuple[str, ...] = NUMERIC_METHODS
    categorical_methods: tuple[str, ...] = ("js", "linf", "chi2")
    numeric_alert_methods: tuple[str, ...] = ("wasserstein",)
    categorical_alert_methods: tuple[str, ...] = ("js",)
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    min_samples: int = DEFAULT_MIN_SAMPLES
    bonferroni: bool = True

    def __post_init__(self) -> None:
        for where, names in (
            ("numeric_methods", self.numeric_methods),
            ("categorical_methods", self.categorical_methods),
            ("numeric_alert_methods", self.numeric_alert_methods),
            ("categorical_alert_methods", self.categorical_alert_methods),
            ("thresholds", tuple(self.thresholds)),
        ):
            unknown = sorted(set(names) - set(METHODS))
            if unknown:
                raise ValueError(f"{where}: unknown drift method(s) {unknown}; known: {list(METHODS)}")
        for where, names, bad, why in (
            ("categorical_methods", self.categorical_methods, "wasserstein", "needs ordered numeric values"),
            ("categorical_alert_methods", self.categorical_alert_methods, "wasserstein",
             "needs ordered numeric values"),
            ("numeric_methods", self.numeric_methods, "chi2", "is for categorical features"),
            ("numeric_alert_methods", self.numeric_alert_methods, "chi2", "is for categorical features"),
        ):
            if bad in names:
                raise ValueError(f"{where}: {bad} {why}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        merged = dict(DEFAULT_THRESHOLDS)
        merged.update({k: float(v) for k, v in self.thresholds.items()})
        object.__setattr__(self, "thresholds", MappingProxyType(merged))

    def methods_for(self, profile: Profile) -> tuple[str, ...]:
        """Methods computed for this profile's kind."""
        return self.numeric_methods if profile.kind == "numeric" else self.categorical_methods

    def alert_methods_for(self, profile: Profile) -> tuple[str, ...]:
        """Methods whose crossing raises an alert for this profile's kind."""
        return self.numeric_alert_methods if profile.kind == "numeric" else self.categorical_alert_methods


DEFAULT_CONFIG = DriftConfig()


def _grouped(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=counts, minlength=int(groups.max()) + 1)


def _spread(group_terms: np.ndarray, groups: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Share each group's term among its bins in proportion to the window's counts in them (to the
    reference counts in a group the window left empty), so the bin contributions sum to the total."""
    weights = np.where(np.bincount(groups, weights=cur)[groups] > 0, cur, ref).astype(np.float64)
    group_w = np.bincount(groups, weights=weights, minlength=len(group_terms))
    share = np.divide(weights, group_w[groups], out=np.zeros(len(weights)), where=group_w[groups] > 0)
    return group_terms[groups] * share


def _raw(method: str, profile: Profile, window: Window) -> tuple[float, np.ndarray]:
    ref = profile.counts
    cur = window.counts
    if isinstance(profile, NumericProfile) and method in ("psi", "js"):
        groups = profile.coarse_groups
        value, terms = getattr(_methods, method)(_grouped(ref, groups), _grouped(cur, groups))
        return value, _spread(terms, groups, ref, cur)
    if method == "wasserstein":
        if not isinstance(profile, NumericProfile) or not isinstance(window, NumericWindow):
            raise ValueError("wasserstein needs a numeric profile and window")
        return _methods.wasserstein(
            ref, profile.sums, cur, window.sums, profile.edges, window.min, window.max, profile.scale
        )
    return getattr(_methods, method)(ref, cur)  # type: ignore[no-any-return]


def score(
    profile: Profile, window: Window, method: str, config: DriftConfig = DEFAULT_CONFIG, n_tests: int = 1
) -> DriftScore:
    """Score ``window`` against ``profile`` with one method.

    ``n_tests`` is the number of features scored together (p-value thresholds are divided by it when
    ``config.bonferroni``). Raises ValueError for an unknown method or an empty window."""
    if method not in METHODS:
        raise ValueError(f"unknown drift method {method!r}; known: {list(METHODS)}")
    if window.n == 0:
        raise ValueError("the window holds no values to score")
    value, contributions = _raw(method, profile, window)
    threshold = config.thresholds[method]
    if method in P_VALUE_METHODS:
        effective = threshold / max(n_tests, 1) if config.bonferroni else threshold
        drifted = value < effective
    else:
        drifted = value >= threshold
    excess = window.counts / window.n - profile.counts / max(int(profile.counts.sum()), 1)
    candidates = np.flatnonzero((excess > 0) & (window.counts > 0))
    order = candidates[np.lexsort((-excess[candidates], -contributions[candidates]))]
    return DriftScore(
        method=method,
        value=value,
        threshold=threshold,
        drifted=bool(drifted),
        alert=bool(drifted and method in config.alert_methods_for(profile)),
        n=window.n,
        contributions=contributions,
        top_bins=tuple(int(b) for b in order[:5]),
    )


def evaluate(
    profile: Profile, window: Window, config: DriftConfig = DEFAULT_CONFIG, n_tests: int = 1
) -> list[DriftScore]:
    """Every configured method's score for this feature; ``[]`` while the window holds fewer than
    ``config.min_samples`` values (a score from fewer is mostly sampling noise)."""
    if window.n < config.min_samples:
        return []
    return [score(profile, window, m, config, n_tests) for m in config.methods_for(profile)]


def score_values(
    profile: Profile, values: Any, method: str | None = None, config: DriftConfig = DEFAULT_CONFIG
) -> DriftScore:
    """Score a whole column (e.g. a batch in ``otelml validate``) against ``profile``.

    ``method`` defaults to the alerting method for the profile's kind (wasserstein / js)."""
    window = profile.window_of(values)
    if method is None:
        method = "wasserstein" if isinstance(profile, NumericProfile) else "js"
    if isinstance(profile, CategoricalProfile) and method == "wasserstein":
        raise ValueError("wasserstein needs a numeric column; use js, linf, chi2 or psi")
    return score(profile, window, method, config)
