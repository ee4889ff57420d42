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

from collections.abc import Mapping, Sequence
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
    "evaluate_many",
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
    return _score_rows([profile], [window], (method,), config, [n_tests])[0][0]


def evaluate(
    profile: Profile, window: Window, config: DriftConfig = DEFAULT_CONFIG, n_tests: int = 1
) -> list[DriftScore]:
    """Every configured method's score for this feature; ``[]`` while the window holds fewer than
    ``config.min_samples`` values (a score from fewer is mostly sampling noise)."""
    return evaluate_many([profile], [window], config, [n_tests])[0]


def evaluate_many(
    profiles: Sequence[Profile],
    windows: Sequence[Window],
    config: DriftConfig = DEFAULT_CONFIG,
    n_tests: Sequence[int] | int = 1,
) -> list[list[DriftScore]]:
    """``[evaluate(profiles[i], windows[i], config, n_tests[i]) for i ...]``: features that stack (numeric
    ones with the same number of bins; every categorical one, padded with empty bins) are scored
    together, each method with one set of numpy calls over rows x bins (~20 features x 4 methods per
    closed window in the sidecar, where per-feature calls would be mostly call overhead)."""
    if len(profiles) != len(windows):
        raise ValueError(f"got {len(profiles)} profiles but {len(windows)} windows")
    tests = [n_tests] * len(profiles) if isinstance(n_tests, int) else list(n_tests)
    out: list[list[DriftScore]] = [[] for _ in profiles]
    stacks: dict[tuple[str, int], list[int]] = {}
    for i, (p, w) in enumerate(zip(profiles, windows, strict=True)):
        if w.n < config.min_samples:
            continue
        if w.n == 0:
            raise ValueError("the window holds no values to score")
        if len(p.counts) != len(w.counts) or p.kind != w.kind:
            raise ValueError(f"window ({w.kind}, {len(w.counts)} bins) does not belong to the profile "
                             f"({p.kind}, {len(p.counts)} bins)")
        stacks.setdefault((p.kind, p.n_bins if p.kind == "numeric" else 0), []).append(i)
    for (kind, _), rows in stacks.items():
        methods = config.numeric_methods if kind == "numeric" else config.categorical_methods
        scored = _score_rows([profiles[i] for i in rows], [windows[i] for i in rows], methods, config,
                             [tests[i] for i in rows])
        for i, scores in zip(rows, scored, strict=True):
            out[i] = scores
    return out


def _stack(vectors: list[np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(vectors), width), dtype=np.float64)
    for r, v in enumerate(vectors):
        out[r, : len(v)] = v
    return out


def _values(
    method: str, ps: Sequence[Profile], ws: Sequence[Window], ref: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    numeric = isinstance(ps[0], NumericProfile)
    if method == "wasserstein":
        if not all(isinstance(p, NumericProfile) for p in ps) or not all(
            isinstance(w, NumericWindow) for w in ws
        ):
            raise ValueError("wasserstein needs a numeric profile and window")
        return _methods.wasserstein(
            ref,
            np.stack([p.sums for p in ps]),  # type: ignore[union-attr]
            cur,
            np.stack([w.sums for w in ws]),  # type: ignore[union-attr]
            np.stack([p.edges for p in ps]),  # type: ignore[union-attr]
            np.array([w.min for w in ws], dtype=np.float64),  # type: ignore[union-attr]
            np.array([w.max for w in ws], dtype=np.float64),  # type: ignore[union-attr]
            np.array([p.scale for p in ps], dtype=np.float64),  # type: ignore[union-attr]
        )
    fn: _methods.CountMethod = getattr(_methods, method)
    if numeric and method in ("psi", "js"):  # on the reference deciles (see docs/architecture.md)
        return _methods.coarse(fn, np.stack([p.coarse_groups for p in ps]), ref, cur)  # type: ignore[union-attr]
    return fn(ref, cur)


def _score_rows(
    ps: Sequence[Profile],
    ws: Sequence[Window],
    methods: tuple[str, ...],
    config: DriftConfig,
    tests: list[int],
) -> list[list[DriftScore]]:
    """The one scoring path: ``methods`` for each (profile, window) row, in that order."""
    sizes = [len(p.counts) for p in ps]
    width = max(sizes)
    ref = _stack([p.counts for p in ps], width)
    cur = _stack([w.counts for w in ws], width)
    n = np.array([w.n for w in ws], dtype=np.float64)
    excess = cur / n[:, None] - ref / np.maximum(ref.sum(axis=1), 1.0)[:, None]
    not_candidate = ~((excess > 0) & (cur > 0))  # bins where the window holds more than its share
    n_top = np.minimum((~not_candidate).sum(axis=1), 5).tolist()
    per_method = []
    for m in methods:
        values, terms = _values(m, ps, ws, ref, cur)
        threshold = config.thresholds[m]
        if m in P_VALUE_METHODS:
            divisors = np.array([max(t, 1) if config.bonferroni else 1 for t in tests], dtype=np.float64)
            drifted = (values < threshold / divisors).tolist()
        else:
            drifted = (values >= threshold).tolist()
        # candidates first, then by contribution and excess descending; stable, so ties keep bin order
        top = np.lexsort((-excess, -terms, not_candidate), axis=-1)[:, :5].tolist()
        per_method.append((m, threshold, values.tolist(), terms, drifted, top))
    out = []
    for r, (p, w) in enumerate(zip(ps, ws, strict=True)):
        size, k = sizes[r], n_top[r]
        alert_methods = config.alert_methods_for(p)
        out.append([
            DriftScore(
                method=m,
                value=values[r],
                threshold=threshold,
                drifted=bool(drifted[r]),
                alert=bool(drifted[r]) and m in alert_methods,
                n=w.n,
                contributions=terms[r, :size],
                top_bins=tuple(top[r][:k]),
            )
            for m, threshold, values, terms, drifted, top in per_method
        ])
    return out


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
