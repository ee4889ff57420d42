"""Exemplar reservoirs keep (trace id, span id, value) triples of real observations of each bin."""

from __future__ import annotations

import numpy as np
from otelml_collector.processors.drift.reservoir import BinReservoir


def test_samples_are_offered_triples_and_small_bins_keep_everything():
    rng = np.random.default_rng(5)
    res = BinReservoir(n_groups=40, k=4, rng=np.random.default_rng(1))
    offered: dict[int, set[tuple[bytes, bytes, float]]] = {g: set() for g in range(40)}
    for _ in range(30):
        n = 512
        trace_id = rng.integers(0, 256, (n, 16), dtype=np.uint8)
        span_id = rng.integers(0, 256, (n, 8), dtype=np.uint8)
        rows = np.sort(rng.choice(n, 64, replace=False))
        # groups 0..9 get many observations, 30..39 only a few over the whole test
        groups = np.where(rng.random(64) < 0.97, rng.integers(0, 10, 64), rng.integers(30, 40, 64))
        values = rng.normal(size=64)
        res.offer(groups, rows, trace_id[:, :], span_id[::1], values)
        for g, r, v in zip(groups.tolist(), rows.tolist(), values.tolist(), strict=True):
            offered[g].add((trace_id[r].tobytes(), span_id[r].tobytes(), v))
    for g in range(40):
        kept = res.samples(g)
        assert len(kept) == min(len(offered[g]), 4)
        assert set(kept) <= offered[g]
        if len(offered[g]) <= 4:
            assert set(kept) == offered[g]
    assert int(res.seen.sum()) == 30 * 64


def test_ids_from_non_contiguous_arrays_are_copied_correctly():
    res = BinReservoir(n_groups=2, k=2, rng=np.random.default_rng(0))
    wide = np.arange(3 * 32, dtype=np.uint8).reshape(3, 32)
    trace_id, span_id = wide[:, ::2], wide[:, 1:17:2]  # strided views, as slices of a larger table
    res.offer(np.array([1, 0]), np.array([2, 0]), trace_id, span_id, np.array([0.5, 1.5]))
    assert res.samples(1) == [(trace_id[2].tobytes(), span_id[2].tobytes(), 0.5)]
    assert res.samples(0) == [(trace_id[0].tobytes(), span_id[0].tobytes(), 1.5)]
