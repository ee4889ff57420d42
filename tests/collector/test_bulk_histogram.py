"""`BulkHistogram.record_many` gives the same exported histogram points as `record` per value."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from otelml_collector.telemetry import BulkHistogram


def points(reader: InMemoryMetricReader) -> list:
    data = reader.get_metrics_data()
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "d"
        for p in m.data.data_points
    ]


def pair(temporality: AggregationTemporality, views: list[View] | None = None):
    out = []
    for _ in range(2):
        reader = InMemoryMetricReader(preferred_temporality={Histogram: temporality})
        provider = MeterProvider(
            metric_readers=[reader], exemplar_filter=TraceBasedExemplarFilter(), views=views or []
        )
        out.append((reader, provider.get_meter("t").create_histogram("d", unit="s")))
    return out


def context(trace_id: int):
    span = NonRecordingSpan(SpanContext(trace_id, 7, False, TraceFlags(TraceFlags.SAMPLED)))
    return set_span_in_context(span)


@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_bulk_equals_one_by_one(temporality):
    rng = np.random.default_rng(4)
    (r1, h1), (r2, h2) = pair(temporality, [View(instrument_name="d", attribute_keys={"m"})])
    bulk = BulkHistogram(h2)
    for step in range(3):
        for model in ("a", "b"):
            values = [*rng.exponential(30.0, 200).tolist(), 0.0, 5.0, 5.0, -1.0, float("nan")]
            attrs = {"m": model, "dropped_by_view": step}
            for i, v in enumerate(values):
                if np.isfinite(v) and v >= 0:
                    h1.record(v, attrs, context=context(step + 1) if i == 0 else None)
            bulk.record_many(values, attrs, context=context(step + 1))
        one, many = points(r1), points(r2)
        assert bulk.bulk
        key = lambda p: p.attributes["m"]  # noqa: E731
        for p, q in zip(sorted(one, key=key), sorted(many, key=key), strict=True):
            assert p.attributes == q.attributes
            assert (p.count, p.bucket_counts) == (q.count, q.bucket_counts)
            assert p.explicit_bounds == q.explicit_bounds
            assert p.sum == pytest.approx(q.sum) and (p.min, p.max) == (q.min, q.max)
            assert [e.trace_id for e in q.exemplars] == [step + 1]  # the first value's prediction


def test_other_aggregation_falls_back_to_record():
    view = View(instrument_name="d", aggregation=ExponentialBucketHistogramAggregation())
    (r1, h1), (r2, h2) = pair(AggregationTemporality.CUMULATIVE, [view])
    bulk = BulkHistogram(h2)
    values = [1.0, 2.0, 3.0, 50.0]
    for v in values:
        h1.record(v, {"m": "a"})
    bulk.record_many(values, {"m": "a"})
    assert not bulk.bulk
    (p,), (q,) = points(r1), points(r2)
    assert (p.count, p.sum, p.positive.bucket_counts) == (q.count, q.sum, q.positive.bucket_counts)
