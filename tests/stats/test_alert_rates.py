"""Default methods and thresholds on simulated windows: unchanged features almost never alert, a
one-standard-deviation shift always does (design.md: at most ~1 false alert per 20 unchanged features
per window, with windows of a few thousand predictions)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from otelml.stats import DEFAULT_CONFIG, DriftConfig, evaluate, profile_categorical, profile_numeric

Sampler = Callable[[np.random.Generator, int, float], np.ndarray]

# 20 unchanged numeric features of different shapes; each sampler takes a shift in reference SDs.
SHAPES: dict[str, tuple[Sampler, float]] = {
    "normal": (lambda r, n, s: r.normal(s, 1, n), 1.0),
    "lognormal": (
        lambda r, n, s: r.lognormal(0, 0.8, n) + s * np.sqrt((np.exp(0.64) - 1) * np.exp(0.64)),
        1.0,
    ),
    "exponential": (lambda r, n, s: r.exponential(2, n) + 2 * s, 1.0),
    "student_t5": (lambda r, n, s: r.standard_t(5, n) + s * np.sqrt(5 / 3), 1.0),
    "uniform": (lambda r, n, s: r.uniform(0, 12, n) + s * np.sqrt(12), 1.0),
    "poisson4": (lambda r, n, s: r.poisson(4, n) + s * 2.0, 1.0),
    "bimodal": (
        lambda r, n, s: np.where(r.random(n) < 0.5, r.normal(-2, 1, n), r.normal(2, 1, n)) + s * np.sqrt(5),
        1.0,
    ),
}
FEATURES = [list(SHAPES)[i % len(SHAPES)] for i in range(20)]
WINDOW = 2_000
WINDOWS = 30
REFERENCE = 20_000


def _run(shift_sd: float, window: int = WINDOW, windows: int = WINDOWS, config: DriftConfig = DEFAULT_CONFIG):
    """Alerts per (window, feature) for 20 features whose current data is shifted by ``shift_sd``."""
    rng = np.random.default_rng(1234)
    profiles = [profile_numeric(SHAPES[f][0](rng, REFERENCE, 0.0)) for f in FEATURES]
    alerts = np.zeros((windows, len(FEATURES)), dtype=bool)
    for w in range(windows):
        for i, f in enumerate(FEATURES):
            win = profiles[i].new_window()
            win.update(SHAPES[f][0](rng, window, shift_sd))
            alerts[w, i] = any(s.alert for s in evaluate(profiles[i], win, config, n_tests=len(FEATURES)))
    return alerts


def test_unchanged_features_stay_under_one_false_alert_per_20_features_per_window() -> None:
    alerts = _run(0.0)
    per_window = alerts.sum(axis=1)
    assert per_window.mean() <= 1.0  # the design bound: ~1 false alert per 20 unchanged features
    assert alerts.mean() <= 0.01  # measured: 0 of 600 feature-windows (docs/baseline-format.md)


def test_trivial_differences_do_not_alert() -> None:
    """A 0.03-SD difference is real but operationally trivial; raw p-values would flag it at this size."""
    alerts = _run(0.03)
    assert alerts.mean() <= 0.05


@pytest.mark.parametrize("shift", [1.0, -1.0])
def test_a_one_sd_shift_is_always_caught(shift: float) -> None:
    alerts = _run(shift, windows=10)
    assert alerts.all()


def test_a_one_sd_shift_is_caught_at_the_minimum_window_size() -> None:
    assert _run(1.0, window=DEFAULT_CONFIG.min_samples, windows=5).all()


def test_no_score_below_the_minimum_sample_size() -> None:
    rng = np.random.default_rng(5)
    profile = profile_numeric(rng.normal(size=5_000))
    small = profile.window_of(rng.normal(5, 1, DEFAULT_CONFIG.min_samples - 1))
    assert evaluate(profile, small) == []
    small.update([5.0])
    assert [s.method for s in evaluate(profile, small)] == list(DEFAULT_CONFIG.numeric_methods)


def _categorical(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    return rng.choice(["web", "ios", "android", "partner", "batch"], n, p=p)


BASE_P = [0.4, 0.25, 0.2, 0.1, 0.05]


def test_categorical_features_alert_on_a_real_change_only() -> None:
    rng = np.random.default_rng(99)
    profiles = [profile_categorical(_categorical(rng, REFERENCE, BASE_P)) for _ in range(20)]
    quiet = [
        any(s.alert for s in evaluate(p, p.window_of(_categorical(rng, WINDOW, BASE_P)), n_tests=20))
        for _ in range(10)
        for p in profiles
    ]
    assert sum(quiet) == 0
    moved = [0.15, 0.25, 0.2, 0.1, 0.3]  # a new traffic source takes over: JS distance ~0.27
    caught = [
        any(s.alert for s in evaluate(p, p.window_of(_categorical(rng, WINDOW, moved)))) for p in profiles
    ]
    assert all(caught)


def test_chi2_threshold_is_bonferroni_corrected_over_the_features_of_a_window() -> None:
    rng = np.random.default_rng(7)
    profile = profile_categorical(_categorical(rng, REFERENCE, BASE_P))
    window = profile.window_of(_categorical(rng, WINDOW, [0.38, 0.25, 0.21, 0.11, 0.05]))
    config = DriftConfig(categorical_alert_methods=("chi2",))
    chi2 = {
        n: next(s for s in evaluate(profile, window, config, n_tests=n) if s.method == "chi2")
        for n in (1, 20)
    }
    p_value = chi2[1].value
    assert chi2[1].drifted == (p_value < 0.05)
    assert chi2[20].drifted == (p_value < 0.05 / 20)
    uncorrected = DriftConfig(categorical_alert_methods=("chi2",), bonferroni=False)
    assert next(
        s for s in evaluate(profile, window, uncorrected, n_tests=20) if s.method == "chi2"
    ).drifted == (p_value < 0.05)


def test_config_rejects_unknown_methods_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown drift method\(s\) \['kl'\]"):
        DriftConfig(thresholds={"kl": 0.1})
    with pytest.raises(ValueError, match="numeric_alert_methods"):
        DriftConfig(numeric_alert_methods=("chi2",))
