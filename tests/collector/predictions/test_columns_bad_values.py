"""A prediction with a malformed score or end time is stored with what is good in it (found by the
hostile-input test: one such span used to keep its whole request out of the prediction store)."""

from __future__ import annotations

import math

from otelml_collector.predstore import Predictions


def test_a_string_score_and_a_uint64_end_time_do_not_lose_the_rows() -> None:
    rows = [
        ("p1", b"\x01" * 16, b"\x02" * 8, "m", "1", 10**9, 1, 0.75),
        ("p2", b"\x03" * 16, b"\x04" * 8, "m", "1", 2**64 - 1, 0, "us"),  # both fields hostile
        ("p3", b"\x05" * 16, b"\x06" * 8, "m", "1", 2 * 10**9, 1, True),  # a bool is not a score
    ]
    columns = Predictions.from_rows(rows)
    assert columns.pids == ["p1", "p2", "p3"]
    assert columns.scores[0] == 0.75 and math.isnan(columns.scores[1]) and math.isnan(columns.scores[2])
    assert list(columns.times) == [10**9, 2**63 - 1, 2 * 10**9]
