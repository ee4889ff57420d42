"""record_label: label span with value, id, delay and a link to the prediction."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from opentelemetry.trace import format_span_id, format_trace_id

import otelml


def test_label_in_process_links_to_prediction_and_measures_delay(telemetry) -> None:
    with otelml.inference(model="churn", version="5") as h:
        h.set_prediction(np.array([1]))
    pid, prediction_ctx = h.prediction_id, h.span.get_span_context()
    time.sleep(0.05)
    before = time.time_ns()
    otelml.record_label(pid, np.int64(0))
    after = time.time_ns()
    infer, label = telemetry.finished()
    assert label.name == "label churn"
    attrs = dict(label.attributes)
    assert attrs.pop("ml.operation.name") == "label"
    assert attrs.pop("ml.prediction.id") == pid
    assert attrs.pop("ml.label.value") == 0
    assert attrs.pop("ml.model.name") == "churn"
    assert attrs.pop("ml.model.version") == "5"
    delay = attrs.pop("ml.label.delay")
    assert (before - infer.start_time) / 1e9 <= delay <= (after - infer.start_time) / 1e9
    assert delay >= 0.05
    assert attrs == {}
    (link,) = label.links
    assert link.context.trace_id == prediction_ctx.trace_id
    assert link.context.span_id == prediction_ctx.span_id


def test_label_from_another_process_with_traceparent_and_time(telemetry) -> None:
    trace_id, span_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
    traceparent = f"00-{format_trace_id(trace_id)}-{format_span_id(span_id)}-01"
    predicted_at = datetime.now(UTC) - timedelta(days=3)
    otelml.record_label("req-9", "fraud", model="fraud-gbm", version="7",
                        prediction_time=predicted_at, traceparent=traceparent)
    (label,) = telemetry.finished()
    assert label.name == "label fraud-gbm"
    assert label.attributes["ml.label.value"] == "fraud"
    assert abs(label.attributes["ml.label.delay"] - timedelta(days=3).total_seconds()) < 5
    (link,) = label.links
    assert (link.context.trace_id, link.context.span_id) == (trace_id, span_id)


def test_unknown_prediction_gets_a_label_without_link_or_delay(telemetry) -> None:
    otelml.record_label("never-seen", 1.25)
    (label,) = telemetry.finished()
    assert label.name == "label"
    assert label.links == ()
    assert "ml.label.delay" not in label.attributes
    assert label.attributes["ml.label.value"] == 1.25


def test_bad_traceparent_keeps_the_label_and_warns(telemetry, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otelml"):
        otelml.record_label("p1", True, model="m", traceparent="not-a-traceparent", prediction_time=0.0)
    (label,) = telemetry.finished()
    assert label.attributes["ml.label.value"] is True
    assert label.links == ()
    assert "traceparent 'not-a-traceparent' is not a W3C traceparent" in caplog.text


def test_bad_label_arguments_raise_naming_the_argument(telemetry) -> None:
    with pytest.raises(ValueError, match="prediction_id must be the id returned"):
        otelml.record_label("", 1)
    with pytest.raises(ValueError, match="value must be a bool, int, float or str"):
        otelml.record_label("p", [1, 2])
    with pytest.raises(ValueError, match="prediction_time must be timezone-aware"):
        otelml.record_label("p", 1, prediction_time=datetime(2026, 1, 1))
    assert telemetry.finished() == []


def test_label_with_span_context_and_epoch_time(telemetry) -> None:
    from opentelemetry.trace import SpanContext, TraceFlags

    ctx = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    predicted_at = time.time() - 90.0
    otelml.record_label("p-ctx", 3.5, model="price", span_context=ctx, prediction_time=predicted_at)
    (label,) = telemetry.finished()
    (link,) = label.links
    assert (link.context.trace_id, link.context.span_id) == (0xABC, 0xDEF)
    assert 90.0 <= label.attributes["ml.label.delay"] < 100.0


def test_label_memory_is_bounded_keeps_the_newest_and_is_safe_across_threads(telemetry, monkeypatch) -> None:
    import threading

    from otelml import _labels

    monkeypatch.setattr(_labels, "_memory", _labels._Memory(200))
    ids: list[list[str]] = [[] for _ in range(4)]

    def predict(out: list[str]) -> None:
        for _ in range(300):
            with otelml.inference(model="churn") as h:
                h.set_prediction(np.array([1]))
            out.append(h.prediction_id)

    threads = [threading.Thread(target=predict, args=(out,)) for out in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_labels._memory.recent) == 200
    finished = telemetry.finished()
    assert len({s.attributes["ml.prediction.id"] for s in finished}) == 1200
    newest = finished[-1].attributes["ml.prediction.id"]
    spans = {s.attributes["ml.prediction.id"]: s for s in finished}
    telemetry.spans.clear()
    otelml.record_label(newest, 0)
    otelml.record_label(ids[0][0], 0)  # the first prediction was trimmed long ago
    recent_label, old_label = telemetry.finished()
    (link,) = recent_label.links
    assert link.context.span_id == spans[newest].context.span_id
    assert old_label.links == ()
    assert "ml.label.delay" not in old_label.attributes


def test_label_memory_indexes_predictions_made_between_lookups(telemetry, monkeypatch) -> None:
    from otelml import _labels

    monkeypatch.setattr(_labels, "_memory", _labels._Memory(50))
    made: list[tuple[str, int]] = []
    for _ in range(6):  # 180 predictions, labels in between: the index grows past 2 x 50 and is rebuilt
        for _ in range(30):
            with otelml.inference(model="churn") as h:
                h.set_prediction(np.array([1]))
            made.append((h.prediction_id, h.span.get_span_context().span_id))
        for pid, span_id in (made[-1], made[-30]):
            otelml.record_label(pid, 1)
            (link,) = telemetry.finished()[-1].links
            assert link.context.span_id == span_id
    assert len(_labels._memory.index) < 2 * 50 + 30  # rebuilt on the way, not grown without bound
    otelml.record_label(made[0][0], 1)  # 180 predictions ago: forgotten
    assert telemetry.finished()[-1].links == ()


def test_label_links_to_the_first_inference_span_of_a_prediction(telemetry) -> None:
    with otelml.prediction():
        with otelml.inference(model="first") as first:
            first.set_prediction(np.array([1]))
        with otelml.inference(model="second") as second:
            second.set_prediction(np.array([0]))
    assert first.prediction_id == second.prediction_id
    otelml.record_label(first.prediction_id, 1)
    label = telemetry.finished()[-1]
    (link,) = label.links
    assert link.context.span_id == first.span.get_span_context().span_id
    assert label.attributes["ml.model.name"] == "first"
