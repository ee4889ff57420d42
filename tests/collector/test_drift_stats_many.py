"""`otelml.stats.update_numeric` (added for the drift processor's hot path) gives the same window state
as `NumericWindow.update` column by column, also with missing values and empty columns."""

from __future__ import annotations

import numpy as np
import pytest

from otelml import stats


@pytest.mark.parametrize("missing", [0.0, 0.1, 1.0])
def test_update_numeric_equals_per_column_updates(missing):
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 1, (3000, 4)) * [1, 10, 0.1, 5] + [0, 100, -3, 7]
    profiles = [stats.profile_numeric(ref[:, j]) for j in range(4)]
    many = [p.new_window() for p in profiles]
    single = [p.new_window() for p in profiles]
    for _ in range(5):
        x = rng.normal(0.3, 1.2, (257, 4)) * [1, 10, 0.1, 5] + [0, 100, -3, 7]
        x[rng.random(x.shape) < missing] = np.nan
        x[0, 1] = np.inf
        x[1, 2] = profiles[2].edges[3]  # exactly on an edge
        bins = stats.update_numeric(many, x)
        expected = np.column_stack([w.update(x[:, j].copy()) for j, w in enumerate(single)])
        np.testing.assert_array_equal(bins, expected)
    for a, b in zip(many, single, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        assert a.n == b.n and a.nulls == b.nulls
        da, db = a.to_dict(), b.to_dict()  # the whole checkpointed state, whatever the window keeps
        assert da.keys() == db.keys()
        for key in da.keys() - {"kind"}:
            got, want = np.asarray(da[key], dtype=float), np.asarray(db[key], dtype=float)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=key)


def test_update_numeric_checks_the_shape():
    p = stats.profile_numeric(np.arange(100.0))
    with pytest.raises(ValueError, match=r"values must be n x 2"):
        stats.update_numeric([p.new_window(), p.new_window()], np.zeros((5, 3)))


def test_update_numeric_uses_the_matrix_path_for_the_current_window_layout(monkeypatch):
    """The per-column fallback exists for unknown window layouts; the stats core's own must not need it."""
    p = stats.profile_numeric(np.random.default_rng(1).normal(0, 1, 1000))
    windows = [p.new_window(), p.new_window()]

    def boom(self, values):
        raise AssertionError("update_numeric fell back to NumericWindow.update")

    monkeypatch.setattr(stats.NumericWindow, "update", boom)
    stats.update_numeric(windows, np.random.default_rng(2).normal(0, 1, (100, 2)))
    assert windows[0].n == windows[1].n == 100


def test_update_categorical_equals_window_update():
    from otelml.stats._window import NULL_KEY

    rng = np.random.default_rng(11)
    ref = rng.choice(["web", "ios", "android", "api", "ünïcode"], 3000).astype(object)
    profile = stats.profile_column(ref, column="channel")
    fast, slow = profile.new_window(), profile.new_window()
    values = ["web", "ios", "android", "api", "ünïcode", "never-seen", "", NULL_KEY, None]
    pool = np.array(values, dtype=object)
    for size in (0, 1, 512, 97):
        col = pool[rng.integers(0, len(pool), size)]
        bins = fast.update_strings(col)
        assert bins is not None
        np.testing.assert_array_equal(bins, slow.update(col.copy()))
    np.testing.assert_array_equal(fast.counts, slow.counts)
    assert (fast.n, fast.nulls) == (slow.n, slow.nulls)
    assert fast.to_dict() == slow.to_dict()


def test_update_categorical_leaves_other_values_to_the_window():
    profile = stats.profile_column(np.array(["a", "b", "b"], dtype=object), column="c")
    window = profile.new_window()
    for col in (np.array(["a", 1], dtype=object), np.array([True, "a"], dtype=object), np.array([0.5, 1.5])):
        assert window.update_strings(col) is None
    assert window.n == 0 and window.nulls == 0 and int(window.counts.sum()) == 0
