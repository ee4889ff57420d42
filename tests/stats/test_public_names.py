"""The public face of `otelml.stats`: what the CLI and the sidecar may import, pinned by name."""

from __future__ import annotations

import numpy as np

from otelml import stats


def test_public_names() -> None:
    assert set(stats.__all__) == {
        "DEFAULT_BINS", "DEFAULT_CONFIG", "DEFAULT_MIN_SAMPLES", "DEFAULT_THRESHOLDS", "DEFAULT_TOP_K",
        "FORMAT", "FORMAT_VERSION", "METHODS", "P_VALUE_METHODS", "Baseline", "BaselineError",
        "CategoricalProfile", "CategoricalWindow", "DriftConfig", "DriftScore", "NumericProfile",
        "NumericWindow", "Profile", "Window", "build_baseline", "evaluate", "evaluate_many", "load_baseline",
        "profile_categorical", "profile_column", "profile_from_dict", "profile_numeric", "score",
        "score_values", "update_numeric", "window_from_dict",
    }  # fmt: skip
    assert all(getattr(stats, name) is not None for name in stats.__all__)


def test_categorical_window_string_path_equals_update() -> None:
    profile = stats.profile_column(np.array(["a", "b", "b", "c"], dtype=object), column="c")
    fast, slow = profile.new_window(), profile.new_window()
    col = np.array(["a", "zz", None, "b", "b"], dtype=object)
    np.testing.assert_array_equal(fast.update_strings(col), slow.update(col))
    assert fast.to_dict() == slow.to_dict() and fast.n == 4 and fast.nulls == 1
