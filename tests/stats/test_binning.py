"""The lookup-table binning of the sidecar's hot path gives exactly ``np.searchsorted``'s bins."""

from __future__ import annotations

import numpy as np
import pytest

from otelml.stats import profile_numeric, update_numeric
from otelml.stats._binning import bin_matrix


def _columns(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [
        rng.normal(50, 10, n),
        rng.lognormal(3, 1.5, n),
        rng.standard_t(2, n),  # very heavy tails: wide table cells, several edges per cell
        rng.poisson(3, n).astype(float),  # discrete: values exactly on edges
        rng.uniform(1e9, 1e9 + 1, n),  # large offset, small spread
        np.full(n, 7.0),  # constant: no table
        rng.exponential(1e-6, n),  # tiny scale
    ]


@pytest.mark.parametrize("seed", range(4))
def test_bin_matrix_equals_searchsorted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    refs = _columns(rng, 20_000)
    profiles = [profile_numeric(r) for r in refs]
    cur = np.column_stack(_columns(rng, 3_000)) * rng.choice([1.0, 1.3], size=len(refs))
    # exact edges, the cell ends of the tables, values outside the range, NaN and infinities
    for j, p in enumerate(profiles):
        cur[: len(p.edges), j] = p.edges
        t = p.bin_table
        if t is not None:
            ends = t.lo + np.arange(1, 200) / t.inv_width
            cur[100 : 100 + len(ends), j] = ends
            cur[400 : 400 + len(ends), j] = np.nextafter(ends, -np.inf)
    cur[500, :] = np.nan
    cur[501, :] = np.inf
    cur[502, :] = -np.inf
    cur[503, :] = [r.min() - 1 for r in refs]
    cur[504, :] = [r.max() for r in refs]
    searches = [p.search_edges for p in profiles]
    got = bin_matrix(searches, [p.bin_table for p in profiles], cur)
    expected = np.column_stack([np.searchsorted(s, cur[:, j], side="right") for j, s in enumerate(searches)])
    np.testing.assert_array_equal(got, expected)
    # tables for all but the large-offset and the constant columns, which use np.searchsorted
    assert [p.bin_table is not None for p in profiles] == [True, True, True, True, False, False, True]


def test_update_numeric_matches_per_column_update_with_the_table() -> None:
    rng = np.random.default_rng(9)
    profiles = [profile_numeric(r) for r in _columns(rng, 10_000)]
    many = [p.new_window() for p in profiles]
    single = [p.new_window() for p in profiles]
    for _ in range(4):
        x = np.column_stack(_columns(rng, 512)) + rng.normal(0, 0.1, 7)
        x[rng.random(x.shape) < 0.02] = np.nan
        np.testing.assert_array_equal(
            update_numeric(many, x), np.column_stack([w.update(x[:, j].copy()) for j, w in enumerate(single)])
        )
    for a, b in zip(many, single, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        assert (a.n, a.nulls, a.min, a.max) == (b.n, b.nulls, b.min, b.max)
        assert a.std == pytest.approx(b.std, rel=1e-9)
