"""The C scan of label spans (`fastscan.scan_labels`) reads what the protobuf walk of the prediction
index (`predstore.index.labels_reference`) reads, or declines: on label spans with every kind of
value, missing and repeated keys, names that almost match, and on hypothesis' mutations of them."""

from __future__ import annotations

import math
import os
import random
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from otelml_collector.otlp.fastscan import HAVE_FAST_SCAN, scan_labels
from otelml_collector.predstore.index import labels_reference

from tests.collector.test_fastscan_protobuf_parity import _mutate

pytestmark = pytest.mark.skipif(not HAVE_FAST_SCAN, reason="C scanner not built")

KEYS = ["ml.prediction.id", "ml.label.value", "ml.label.delay", "ml.model.name", "ml.prediction.idx", ""]
NAMES = ["label churn", "label ", "label", "labelx", "inference churn", "label é", ""]


def _value(rng: random.Random, value: AnyValue) -> None:
    kind = rng.choice(["none", "str", "str", "bool", "int", "double", "array", "kvlist", "bytes", "strindex"])
    if kind == "str":
        value.string_value = rng.choice(["", "p-1", "é✓", rng.randbytes(4).hex()])
    elif kind == "bool":
        value.bool_value = rng.random() < 0.5
    elif kind == "int":
        value.int_value = rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.getrandbits(40)])
    elif kind == "double":
        value.double_value = rng.choice([0.0, -0.0, 0.5, 1e300, math.inf, math.nan])
    elif kind == "array":
        value.array_value.values.add().int_value = 1
    elif kind == "kvlist":
        value.kvlist_value.values.add(key="a").value.int_value = 1
    elif kind == "bytes":
        value.bytes_value = b"\x01\x02"
    elif kind == "strindex":
        value.string_value_strindex = 3


def label_request(rng: random.Random) -> bytes:
    req = ExportTraceServiceRequest()
    for _ in range(rng.randint(1, 2)):
        rs = req.resource_spans.add()
        for _ in range(rng.randint(1, 2)):
            ss = rs.scope_spans.add()
            for _ in range(rng.randint(0, 5)):
                span = ss.spans.add(
                    trace_id=rng.choice([rng.randbytes(16), b"", rng.randbytes(3)]),
                    span_id=rng.randbytes(8),
                    name=rng.choice(NAMES),
                    end_time_unix_nano=rng.choice([0, rng.getrandbits(64)]),
                )
                keys = ["ml.prediction.id", "ml.label.value"] + [
                    rng.choice(KEYS) for _ in range(rng.randint(0, 4))
                ]
                rng.shuffle(keys)
                for key in keys:
                    kv = span.attributes.add(key=key)
                    if key == "ml.prediction.id" and rng.random() < 0.7:
                        kv.value.string_value = f"p-{rng.randrange(1000)}"
                    elif rng.random() < 0.9:
                        _value(rng, kv.value)
    return req.SerializeToString()


def comparable(labels: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """NaN equals NaN, and bool stays apart from int (True == 1 in Python)."""
    return [tuple((type(x).__name__, repr(x)) for x in label) for label in labels]


def reference(raw: bytes) -> list[tuple[Any, ...]] | None:
    try:
        return labels_reference(ExportTraceServiceRequest.FromString(raw))
    except DecodeError:
        return None


def test_sdk_shaped_label_spans_are_read_by_the_c_scan() -> None:
    from tests.collector.predictions.spans import label, request

    spans = [label(f"p-{i}", v) for i, v in enumerate([1, 0, True, 2.5, "fraud"])]
    raw = request("labels", spans).raw
    fast = scan_labels(raw)
    assert fast is not None
    assert [(pid, value) for pid, value, *_ in fast] == [
        ("p-0", 1),
        ("p-1", 0),
        ("p-2", True),
        ("p-3", 2.5),
        ("p-4", "fraud"),
    ]
    assert comparable(fast) == comparable(labels_reference(ExportTraceServiceRequest.FromString(raw)))


@pytest.mark.parametrize("seed", range(300))
def test_c_scan_equals_the_protobuf_walk_or_declines(seed: int) -> None:
    raw = label_request(random.Random(seed))
    fast = scan_labels(raw)
    expected = reference(raw)
    assert expected is not None
    if fast is not None:
        assert comparable(fast) == comparable(expected), raw.hex()


def test_the_c_scan_reads_most_generated_requests() -> None:
    """Declining is allowed (the walk then decides), but not as a habit: only for values the C scan
    leaves to protobuf (non-scalar label values)."""
    read = sum(scan_labels(label_request(random.Random(seed))) is not None for seed in range(300))
    assert read >= 60, read


@settings(
    max_examples=int(os.environ.get("OTELML_FUZZ_EXAMPLES", "2000")) // 4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_c_scan_and_protobuf_agree_on_mutated_label_requests(seed: int, data: st.DataObject) -> None:
    raw = _mutate(label_request(random.Random(seed)), data)
    expected = reference(raw)
    if expected is None:
        return  # protobuf refuses the bytes: the receiver never passes them on
    fast = scan_labels(raw)
    if fast is not None:
        assert comparable(fast) == comparable(expected), raw.hex()
