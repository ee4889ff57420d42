"""``evaluate_many`` (all features of a window at once) gives exactly the per-feature ``evaluate`` scores."""

from __future__ import annotations

import numpy as np
import pytest

from otelml.stats import (
    DriftConfig,
    evaluate,
    evaluate_many,
    profile_categorical,
    profile_numeric,
)

TOL = 1e-12


def _features(rng: np.random.Generator) -> tuple[list, list, list[int]]:
    """Profiles, windows and n_tests of a random window: shifted, scaled, constant, discrete and
    categorical columns, with empty bins, values outside the reference range and unseen categories."""
    profiles, windows = [], []
    n_ref, n_cur = 4000, int(rng.integers(1000, 3000))
    for j in range(12):
        kind = j % 4
        if kind == 0:
            ref = rng.normal(size=n_ref)
            cur = rng.normal(rng.normal(0, 0.7), rng.uniform(0.3, 2.5), n_cur)
        elif kind == 1:
            ref = rng.poisson(rng.uniform(0.5, 4), n_ref).astype(float)  # many empty and repeated bins
            cur = rng.poisson(rng.uniform(0.5, 6), n_cur).astype(float)
        elif kind == 2:
            ref = np.full(n_ref, 3.0)  # zero-variance reference: scale 1.0
            cur = np.where(rng.random(n_cur) < 0.9, 3.0, rng.normal(3, 1, n_cur))
        else:
            ref = rng.lognormal(0, 1, n_ref)
            cur = rng.lognormal(rng.uniform(-0.3, 0.3), 1, n_cur)
        cur[rng.random(n_cur) < 0.05] = np.nan
        p = profile_numeric(ref, bins=int(rng.choice([50, 50, 20])))
        profiles.append(p)
        windows.append(p.window_of(cur))
    for k in range(6):
        cats = [f"c{i}" for i in range(int(rng.integers(2, 30)))]
        ref_w = rng.dirichlet(np.ones(len(cats)))
        ref = rng.choice(cats, n_ref, p=ref_w)
        cur_cats = [*cats, "unseen-a", "unseen-b"] if k % 2 else cats[: max(2, len(cats) // 2)]
        cur = rng.choice(cur_cats, n_cur, p=rng.dirichlet(np.ones(len(cur_cats))))
        p = profile_categorical(ref, top_k=int(rng.choice([5, 10, 50])))
        profiles.append(p)
        windows.append(p.window_of(cur))
    tests = [len(profiles)] * (len(profiles) - 1) + [1]
    return profiles, windows, tests


CONFIGS = {
    "default": DriftConfig(),
    "every-method": DriftConfig(
        numeric_methods=("wasserstein", "ks", "psi", "js", "linf"),
        categorical_methods=("js", "linf", "chi2", "psi", "ks"),
        categorical_alert_methods=("chi2", "js"),
        thresholds={"js": 0.02, "wasserstein": 0.05},
    ),
}


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", range(8))
def test_evaluate_many_matches_evaluate(seed: int, config_name: str) -> None:
    config = CONFIGS[config_name]
    profiles, windows, tests = _features(np.random.default_rng(1000 + seed))
    many = evaluate_many(profiles, windows, config, tests)
    assert len(many) == len(profiles)
    for p, w, t, got in zip(profiles, windows, tests, many, strict=True):
        want = evaluate(p, w, config, t)
        assert [s.method for s in got] == [s.method for s in want]
        for g, e in zip(got, want, strict=True):
            assert g.value == pytest.approx(e.value, abs=TOL, rel=TOL), (p.kind, e.method)
            np.testing.assert_allclose(g.contributions, e.contributions, rtol=TOL, atol=TOL)
            assert (g.threshold, g.drifted, g.alert, g.n) == (e.threshold, e.drifted, e.alert, e.n)
            assert g.top_bins == e.top_bins, (p.kind, e.method)


def test_evaluate_many_skips_small_windows_and_checks_lengths() -> None:
    rng = np.random.default_rng(7)
    p = profile_numeric(rng.normal(size=2000))
    small, big = p.window_of(rng.normal(size=50)), p.window_of(rng.normal(size=1500))
    got = evaluate_many([p, p], [small, big])
    assert got[0] == [] and [s.method for s in got[1]] == [s.method for s in evaluate(p, big)]
    with pytest.raises(ValueError, match="2 profiles but 1 windows"):
        evaluate_many([p, p], [big])
