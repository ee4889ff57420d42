"""Streaming windows: chunked updates, merge, moments and JSON checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otelml.stats import (
    METHODS,
    CategoricalWindow,
    NumericWindow,
    profile_categorical,
    profile_numeric,
    score,
    window_from_dict,
)

rng = np.random.default_rng(11)
REF = rng.normal(10, 3, 20_000)
A = rng.normal(11, 3, 3_000)
B = rng.normal(9, 6, 5_000)  # wider than the reference: values beyond both ends
NUMERIC = profile_numeric(REF)
CATS = profile_categorical(rng.choice(["x", "y", "z", "w"], 10_000, p=[0.4, 0.3, 0.2, 0.1]), top_k=3)
CA = [*list(rng.choice(["x", "y", "z", "w", "v"], 2000)), None]
CB = [*list(rng.choice(["x", "y"], 1000)), True, float("nan")]


def _scores(profile, window) -> dict[str, float]:
    kind_ok = {"numeric": ("psi", "ks", "js", "wasserstein"), "categorical": ("psi", "js", "chi2", "linf")}
    return {m: score(profile, window, m).value for m in METHODS if m in kind_ok[profile.kind]}


def test_numeric_window_moments_match_numpy_over_chunks() -> None:
    window = NUMERIC.new_window()
    for chunk in np.array_split(A, 13):
        window.update(chunk)
    assert window.n == A.size
    assert window.mean == pytest.approx(A.mean(), rel=1e-12)
    assert window.std == pytest.approx(A.std(ddof=1), rel=1e-10)
    assert (window.min, window.max) == (A.min(), A.max())


def test_variance_stays_accurate_far_from_zero() -> None:
    offset = 1e9
    profile = profile_numeric(REF + offset)
    window = profile.window_of(A + offset)
    assert window.std == pytest.approx(A.std(ddof=1), rel=1e-6)


def test_update_returns_the_bin_of_each_value_for_exemplars() -> None:
    window = NUMERIC.new_window()
    values = np.array([REF.min() - 1, 10.0, np.nan, REF.max() + 1])
    bins = window.update(values)
    assert list(bins) == list(NUMERIC.bin_index(values))
    assert bins[0] == 0 and bins[-1] == NUMERIC.n_bins - 1 and bins[2] == -1
    assert window.counts[bins[1]] == 1 and window.nulls == 1


def test_numeric_merge_equals_window_of_concatenation() -> None:
    merged = NUMERIC.window_of(A).merge(NUMERIC.window_of(B))
    whole = NUMERIC.window_of(np.concatenate([A, B]))
    assert np.array_equal(merged.counts, whole.counts)
    assert np.allclose(merged.sums, whole.sums, rtol=1e-12)
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.std == pytest.approx(whole.std, rel=1e-10)
    assert (merged.min, merged.max, merged.nulls) == (whole.min, whole.max, whole.nulls)
    assert _scores(NUMERIC, merged) == pytest.approx(_scores(NUMERIC, whole), rel=1e-9)


def test_merge_with_an_empty_window_changes_nothing() -> None:
    full = NUMERIC.window_of(A)
    merged = NUMERIC.new_window().merge(full)
    assert merged.mean == pytest.approx(full.mean) and merged.std == pytest.approx(full.std)
    assert np.array_equal(merged.counts, full.counts)


def test_categorical_merge_equals_window_of_concatenation() -> None:
    merged = CATS.window_of(CA).merge(CATS.window_of(CB))
    whole = CATS.window_of(CA + CB)
    assert np.array_equal(merged.counts, whole.counts)
    assert merged.nulls == whole.nulls == 2
    assert _scores(CATS, merged) == pytest.approx(_scores(CATS, whole), rel=1e-12)


def test_merging_windows_of_different_profiles_is_refused() -> None:
    other = profile_numeric(np.arange(10.0), bins=2)
    with pytest.raises(ValueError, match="different profiles"):
        NUMERIC.window_of(A).merge(other.window_of([1.0]))


@pytest.mark.parametrize(("profile", "values"), [(NUMERIC, A), (CATS, CA)])
def test_window_json_round_trip_keeps_scores_and_keeps_streaming(profile, values) -> None:
    window = profile.window_of(values)
    restored = window_from_dict(json.loads(json.dumps(window.to_dict())), profile)
    assert isinstance(restored, NumericWindow | CategoricalWindow)
    assert type(restored) is type(window)
    assert _scores(profile, restored) == _scores(profile, window)
    restored.update(values)
    assert restored.n == 2 * window.n


def test_empty_numeric_window_serialises_to_strict_json() -> None:
    text = json.dumps(NUMERIC.new_window().to_dict(), allow_nan=False)
    restored = window_from_dict(json.loads(text), NUMERIC)
    assert restored.n == 0 and restored.min == np.inf and restored.max == -np.inf


def test_restoring_a_window_onto_the_wrong_profile_names_the_mismatch() -> None:
    with pytest.raises(ValueError, match="does not fit the categorical profile"):
        window_from_dict(NUMERIC.window_of(A).to_dict(), CATS)


def test_non_numeric_values_in_a_numeric_feature_count_as_missing() -> None:
    window = NUMERIC.window_of([1.0, "oops", None, 2, True])
    assert window.n == 3 and window.nulls == 2


def test_window_memory_does_not_grow_with_values() -> None:
    window = NUMERIC.new_window()
    window.update(A)
    size = len(json.dumps(window.to_dict()))
    for _ in range(20):
        window.update(B)
    assert window.n == A.size + 20 * B.size
    assert len(json.dumps(window.to_dict())) < size * 1.5
