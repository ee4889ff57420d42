"""The C scanner never claims more than protobuf (issue 13, findings 5 and 6): `check_traces` refuses
exactly the varints protobuf's decoder refuses, and `scan` gives the records of the protobuf reference
walk on repeated singular message fields (protobuf merges them). Hypothesis mutates valid requests and
compares both paths against `ExportTraceServiceRequest.FromString`."""

from __future__ import annotations

import os
import random

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otelml_collector.otlp import check_traces
from otelml_collector.processors.extract.scan import HAVE_FAST_SCAN, scan, scan_fast, scan_reference

from tests.collector.test_extraction_equivalence import _protobuf_verdict, normalized, request_bytes

pytestmark = pytest.mark.skipif(not HAVE_FAST_SCAN, reason="C scanner not built")

# The reproducers of issue 13.
OVERLONG_LENGTH = bytes.fromhex("0a808080808000")  # a 6-byte length varint (value 0)
VALUE_TWICE = bytes.fromhex(  # KeyValue ml.feature.x with value {double 1.5} then value {}
    "0a2e122c122a2a0b696e666572656e6365206d4a1b0a0c6d6c2e666561747572652e78120921000000000000f83f1200"
)
ARRAY_TWICE = bytes.fromhex(  # AnyValue with array_value [1.0] then array_value [2.0]
    "0a3d123b12392a0b696e666572656e6365206d4a2a0a0c6d6c2e666561747572652e78121a2a0b0a0921000000000000f03f"
    "2a0b0a09210000000000000040"
)


def _feature_values(raw: bytes) -> list[tuple[int, float]]:
    cells = scan(raw).cells
    return [(int(c["row"]), float(c["dnum"])) for c in cells]


def test_overlong_length_from_the_issue_is_refused_by_protobuf_and_the_check() -> None:
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(OVERLONG_LENGTH)
    assert check_traces(OVERLONG_LENGTH) is None
    with pytest.raises(ValueError):
        scan_fast(OVERLONG_LENGTH)


# (hex, what it is): each is judged by protobuf below, then the C check must agree with that verdict.
VARINT_CASES = [
    ("0a8000", "2-byte length"),
    ("0a8080808000", "5-byte length"),
    ("0a808080808000", "6-byte length"),
    ("0a80808080808080808000", "10-byte length"),
    ("0affffffff07", "5-byte length beyond the buffer"),
    ("8a8080800000", "5-byte tag"),
    ("8a808080800000", "6-byte tag"),
    ("8a808080100000", "5-byte tag above 32 bits"),
    ("f8ffffff0f00", "largest field number, varint"),
    ("0200", "field number 0"),
    ("a206808080808000", "unknown field, 6-byte length"),
    ("a2068080808000", "unknown field, 5-byte length"),
    ("a0068080808080808080807f", "unknown varint, 10 bytes, last byte 0x7f"),
    ("a006808080808080808080800" + "0", "unknown varint, 11 bytes"),
    ("088080808080808080808001", "varint, 10 bytes, wrong wire type for field 1"),
]


@pytest.mark.parametrize("hexbody,what", VARINT_CASES, ids=[w for _, w in VARINT_CASES])
def test_check_traces_agrees_with_protobuf_on_varint_limits(hexbody: str, what: str) -> None:
    raw = bytes.fromhex(hexbody)
    verdict = check_traces(raw)
    expected = _protobuf_verdict(raw)
    if expected is None:
        assert verdict is None, f"{what}: the check vouches for bytes protobuf rejects"
    else:
        # The check may leave valid bytes to protobuf, but the listed valid cases are all ones it reads.
        assert verdict == expected, what


def test_long_varints_protobuf_accepts_are_still_vouched_for() -> None:
    """Guards against over-refusing: 5-byte tags/lengths and 10-byte values are legal."""
    assert _protobuf_verdict(bytes.fromhex("0a8080808000")) == (0, 0)
    assert check_traces(bytes.fromhex("0a8080808000")) == (0, 0)
    assert check_traces(bytes.fromhex("a0068080808080808080807f")) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(VALUE_TWICE, [(-1, 1.5)]), (ARRAY_TWICE, [(0, 1.0), (1, 2.0)])],
    ids=["keyvalue-value-twice", "array-value-twice"],
)
def test_repeated_singular_message_fields_are_merged_as_protobuf_merges(raw, expected) -> None:
    message = ExportTraceServiceRequest.FromString(raw)
    value = message.resource_spans[0].scope_spans[0].spans[0].attributes[0].value
    merged = [v.double_value for v in value.array_value.values] or [value.double_value]
    assert merged == [v for _, v in expected]  # the protobuf reading the test relies on
    assert _feature_values(raw) == expected
    assert normalized(scan(raw)) == normalized(scan_reference(raw))
    assert check_traces(raw) == _protobuf_verdict(raw) == (1, 1)  # no ids: the span is refused


MUTATED_EXAMPLES = int(os.environ.get("OTELML_FUZZ_EXAMPLES", "2000"))


def _mutate(raw: bytes, data: st.DataObject) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "overlong"]))
        at = data.draw(st.integers(0, len(out)))
        if op == "flip" and at < len(out):
            out[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del out[at : at + data.draw(st.integers(1, 4))]
        elif op == "duplicate":  # repeats a slice: repeated fields, and often repeated singular ones
            end = min(len(out), at + data.draw(st.integers(1, 64)))
            out[end:end] = out[at:end]
        elif op == "overlong" and at < len(out) and out[at] < 0x80:  # same value, padded varint
            out[at : at + 1] = bytes([out[at] | 0x80]) + b"\x80" * data.draw(st.integers(0, 9)) + b"\x00"
    return bytes(out)


# ~10 s on the 2-core CI box: time-boxed by the example count, derandomized so a run is repeatable.
@settings(
    max_examples=MUTATED_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_c_and_protobuf_agree_on_mutated_requests(seed: int, data: st.DataObject) -> None:
    raw = _mutate(request_bytes(random.Random(seed)), data)
    expected = _protobuf_verdict(raw)
    verdict = check_traces(raw)
    if verdict is not None:
        assert verdict == expected, raw.hex()
    if expected is None:
        return  # the receiver refuses these bytes before any scan; the check must not vouch (above)
    try:
        fast = scan_fast(raw)
    except ValueError:
        return  # scan() falls back to the reference path, which decides
    assert normalized(fast) == normalized(scan_reference(raw)), raw.hex()
