"""Every drift method against an independent reference computed on the same raw data."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from otelml.stats import (
    CategoricalProfile,
    NumericProfile,
    profile_categorical,
    profile_numeric,
    score,
)

RNG_SEED = 20261127


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(RNG_SEED)
    n_ref, n_cur = 20_000, 5_000
    return {
        "normal-same": (rng.normal(size=n_ref), rng.normal(size=n_cur)),
        "normal-shift-0.1sd": (rng.normal(size=n_ref), rng.normal(0.1, 1, n_cur)),
        "normal-shift-1sd": (rng.normal(size=n_ref), rng.normal(1, 1, n_cur)),
        "normal-shift-3sd": (rng.normal(size=n_ref), rng.normal(3, 1, n_cur)),
        "normal-scale-0.5": (rng.normal(size=n_ref), rng.normal(0, 0.5, n_cur)),
        "normal-scale-2": (rng.normal(size=n_ref), rng.normal(0, 2, n_cur)),
        "lognormal-shift": (rng.lognormal(0, 1, n_ref), rng.lognormal(0.3, 1, n_cur)),
        "exponential-same": (rng.exponential(size=n_ref), rng.exponential(size=n_cur)),
        "student-t3": (rng.standard_t(3, n_ref), rng.standard_t(3, n_cur) + 0.5),
        "poisson-discrete": (rng.poisson(3, n_ref).astype(float), rng.poisson(3.5, n_cur).astype(float)),
        "bimodal-vs-normal": (
            np.where(rng.random(n_ref) < 0.5, rng.normal(-2, 1, n_ref), rng.normal(2, 1, n_ref)),
            rng.normal(0, 2.2, n_cur),
        ),
        "uniform-large-offset": (rng.uniform(1e6, 1e6 + 10, n_ref), rng.uniform(1e6 + 1, 1e6 + 11, n_cur)),
    }


PAIRS = _pairs()
# Reference deciles of a discrete column tie (and fall between values), so decile PSI/JS is compared
# with the direct computation on the continuous cases only.
CONTINUOUS = sorted(c for c in PAIRS if c != "poisson-discrete")


def _window(profile: NumericProfile | CategoricalProfile, values: object, chunks: int = 7):
    window = profile.new_window()
    for chunk in np.array_split(np.asarray(values, dtype=object if profile.kind == "categorical" else float),
                                chunks):
        window.update(chunk)
    return window


def _decile_histograms(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference-decile histograms of the raw values, independent of otelml's binning."""
    edges = np.concatenate(([-np.inf], np.quantile(ref, np.arange(1, 10) / 10), [np.inf]))
    return np.histogram(ref, edges)[0], np.histogram(cur, edges)[0]


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_binned_ks_within_0_02_of_scipy_ks_2samp_on_raw_values(case: str) -> None:
    ref, cur = PAIRS[case]
    profile = profile_numeric(ref)
    got = score(profile, _window(profile, cur), "ks").value
    expected = stats.ks_2samp(ref, cur).statistic
    assert got == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_wasserstein_within_0_005_of_scipy_on_raw_values_normalised_by_reference_std(case: str) -> None:
    ref, cur = PAIRS[case]
    profile = profile_numeric(ref)
    got = score(profile, _window(profile, cur), "wasserstein")
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref, ddof=1)
    assert got.value == pytest.approx(expected, abs=0.005)
    assert got.contributions.sum() == pytest.approx(got.value)


@pytest.mark.parametrize("case", CONTINUOUS)
def test_js_distance_equals_scipy_jensenshannon_on_reference_deciles(case: str) -> None:
    ref, cur = PAIRS[case]
    profile = profile_numeric(ref)
    got = score(profile, _window(profile, cur), "js")
    h_ref, h_cur = _decile_histograms(ref, cur)
    assert got.value == pytest.approx(jensenshannon(h_ref / h_ref.sum(), h_cur / h_cur.sum()), abs=1e-9)
    assert got.contributions.sum() == pytest.approx(got.value**2)


@pytest.mark.parametrize("case", CONTINUOUS)
def test_psi_equals_direct_computation_on_reference_deciles(case: str) -> None:
    ref, cur = PAIRS[case]
    profile = profile_numeric(ref)
    got = score(profile, _window(profile, cur), "psi")
    h_ref, h_cur = _decile_histograms(ref, cur)
    p = np.where(h_ref == 0, 1e-4, h_ref / h_ref.sum())
    q = np.where(h_cur == 0, 1e-4, h_cur / h_cur.sum())
    assert got.value == pytest.approx(float(np.sum((q - p) * np.log(q / p))), abs=1e-9)
    assert got.contributions.sum() == pytest.approx(got.value)


def test_psi_bands_on_known_shifts() -> None:
    """Stable data stays under PSI's 0.1 band; a 1-SD shift is far above its 0.2 band."""
    ref, same = PAIRS["normal-same"]
    profile = profile_numeric(ref)
    assert score(profile, profile.window_of(same), "psi").value < 0.1
    _, shifted = PAIRS["normal-shift-1sd"]
    assert score(profile, profile.window_of(shifted), "psi").value > 0.2


def _categorical_pair() -> tuple[list[object], list[object]]:
    rng = np.random.default_rng(RNG_SEED + 1)
    cats = [f"c{i}" for i in range(12)]
    ref = list(rng.choice(cats, 20_000, p=np.linspace(2, 0.2, 12) / np.linspace(2, 0.2, 12).sum()))
    cur = list(rng.choice([*cats, "brand-new"], 4_000, p=np.r_[np.full(12, 0.9 / 12), 0.1]))
    return ref + [None] * 30, [*cur, None, float("nan")]


def _reference_counts(ref: list[object], cur: list[object], top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per top-K category plus 'other', from collections.Counter on the raw values."""
    cref = Counter(v for v in ref if isinstance(v, str))
    ccur = Counter(v for v in cur if isinstance(v, str))
    top = [c for c, _ in sorted(cref.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]
    r = [cref[c] for c in top] + [sum(cref.values()) - sum(cref[c] for c in top)]
    c = [ccur[x] for x in top] + [sum(ccur.values()) - sum(ccur[x] for x in top)]
    return np.array(r), np.array(c)


@pytest.mark.parametrize("top_k", [5, 50])
def test_categorical_chi2_p_value_equals_scipy_chi2_contingency(top_k: int) -> None:
    ref, cur = _categorical_pair()
    profile = profile_categorical(ref, top_k=top_k)
    r, c = _reference_counts(ref, cur, top_k)
    table = np.vstack([r, c])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table, correction=False)
    got = score(profile, _window(profile, cur), "chi2")
    assert got.value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert got.contributions.sum() == pytest.approx(expected.statistic)


def test_chi2_p_value_on_similar_categories_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = list(rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2]))
    cur = list(rng.choice(["a", "b", "c"], 1000, p=[0.47, 0.32, 0.21]))
    profile = profile_categorical(ref)
    got = score(profile, profile.window_of(cur), "chi2").value
    r, c = _reference_counts(ref, cur, 50)
    expected = stats.chi2_contingency(np.vstack([r, c])[:, :3], correction=False).pvalue
    assert 0.001 < expected < 0.99
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("top_k", [5, 50])
def test_categorical_js_and_linf_equal_direct_computation(top_k: int) -> None:
    ref, cur = _categorical_pair()
    profile = profile_categorical(ref, top_k=top_k)
    window = _window(profile, cur)
    r, c = _reference_counts(ref, cur, top_k)
    p, q = r / r.sum(), c / c.sum()
    assert score(profile, window, "js").value == pytest.approx(jensenshannon(p, q), abs=1e-12)
    assert score(profile, window, "linf").value == pytest.approx(np.abs(p - q).max(), abs=1e-12)


def test_unseen_category_lands_in_other_and_tops_the_bins() -> None:
    ref, cur = _categorical_pair()
    profile = profile_categorical(ref, top_k=50)
    window = _window(profile, cur)
    assert window.counts[profile.other_bin] == sum(1 for v in cur if v == "brand-new")
    assert window.nulls == 2
    assert score(profile, window, "linf").top_bins[0] == profile.other_bin


def test_top_bins_of_a_right_shift_lie_above_the_reference_mean() -> None:
    ref, cur = PAIRS["normal-shift-1sd"]
    profile = profile_numeric(ref)
    window = profile.window_of(cur)
    for method in ("wasserstein", "psi", "js", "ks"):
        top = score(profile, window, method).top_bins
        assert top, method
        lower_edges = [profile.edges[b - 1] for b in top]  # bin b spans [edges[b-1], edges[b])
        assert min(lower_edges) > ref.mean(), method
        share_cur = window.counts[list(top)] / window.n
        share_ref = profile.counts[list(top)] / profile.counts.sum()
        assert np.all(share_cur > share_ref), method


def test_values_outside_the_reference_range_fall_in_the_outer_bins() -> None:
    profile = profile_numeric(np.arange(1000, dtype=float))
    bins = profile.bin_index([-5.0, 0.0, 999.0, 1e9, np.nan, None, "x"])
    assert bins[0] == 0
    assert bins[1] == 1
    assert bins[2] == profile.n_bins - 2  # the maximum stays in the last interior bin
    assert bins[3] == profile.n_bins - 1
    assert list(bins[4:]) == [-1, -1, -1]
    assert profile.counts[0] == profile.counts[-1] == 0
