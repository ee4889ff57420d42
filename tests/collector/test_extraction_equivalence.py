"""One extraction semantics: the C wire scanner and the protobuf reference walk give identical scans and
identical batches on randomized requests (mixed types, arrays, duplicates, odd field order, unknown fields,
non-inference spans), and agree on truncated input."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from otelml_collector.otlp import check_traces
from otelml_collector.processors.extract.assemble import Caps, Schema, assemble
from otelml_collector.processors.extract.scan import HAVE_FAST_SCAN, Scan, scan_fast, scan_reference

pytestmark = pytest.mark.skipif(
    not HAVE_FAST_SCAN, reason="C scanner not built (test_extraction checks that)"
)

WORDS = ["a", "b", "eu", "us", "gold", "ünï", "", "inference", "x" * 40]
FEATURES = ["age", "plan", "score", "n", "flag", "Odd-Name"]


def any_value(rng: random.Random, depth: int = 0) -> AnyValue:
    kind = rng.choice(["d", "d", "i", "b", "s", "s", "nan", "inf", "bytes", "kv", "empty", "arr"])
    if kind == "d":
        return AnyValue(double_value=rng.uniform(-1e6, 1e6))
    if kind == "nan":
        return AnyValue(double_value=rng.choice([float("nan"), -0.0]))
    if kind == "inf":
        return AnyValue(double_value=rng.choice([float("inf"), float("-inf"), 1e308]))
    if kind == "i":
        return AnyValue(int_value=rng.choice([0, -1, 7, 2**62, -(2**63)]))
    if kind == "b":
        return AnyValue(bool_value=rng.random() < 0.5)
    if kind == "s":
        return AnyValue(string_value=rng.choice(WORDS))
    if kind == "bytes":
        return AnyValue(bytes_value=b"\x00\xff")
    if kind == "kv":
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=1))]))
    if kind == "empty":
        return AnyValue()
    if depth > 1:
        return AnyValue(array_value=ArrayValue())
    return AnyValue(
        array_value=ArrayValue(values=[any_value(rng, depth + 1) for _ in range(rng.randint(0, 4))])
    )


def homogeneous_array(rng: random.Random) -> AnyValue:
    n = rng.randint(0, 5)
    if rng.random() < 0.5:
        values = [AnyValue(double_value=rng.gauss(0, 1)) for _ in range(n)]
    else:
        values = [AnyValue(string_value=rng.choice(WORDS)) for _ in range(n)]
    return AnyValue(array_value=ArrayValue(values=values))


def attributes(rng: random.Random) -> list[KeyValue]:
    out: list[KeyValue] = []
    if rng.random() < 0.6:
        out.append(
            KeyValue(key="ml.operation.name", value=AnyValue(string_value=rng.choice(["inference", "label"])))
        )
    if rng.random() < 0.8:
        model = (
            AnyValue(string_value=rng.choice(["m1", "m2", "m3"])) if rng.random() < 0.9 else any_value(rng)
        )
        out.append(KeyValue(key="ml.model.name", value=model))
    if rng.random() < 0.6:
        out.append(KeyValue(key="ml.model.version", value=AnyValue(string_value=rng.choice(["1", "2"]))))
    if rng.random() < 0.7:
        out.append(KeyValue(key="ml.prediction.id", value=AnyValue(string_value=f"p{rng.randint(0, 99)}")))
    keys = [f"ml.feature.{f}" for f in FEATURES] + ["ml.prediction.value", "ml.prediction.score"]
    keys += ["ml.segment.region", "ml.segment.tier", "ml.feature.", "ml.", "ml.batch.size", "http.route"]
    for _ in range(rng.randint(0, 12)):
        value = homogeneous_array(rng) if rng.random() < 0.2 else any_value(rng)
        out.append(KeyValue(key=rng.choice(keys), value=value))
    rng.shuffle(out)
    return out


def span_bytes(rng: random.Random) -> bytes:
    """A Span serialized field by field in random order (attributes keep their relative order), with
    unknown fields mixed in: what a non-Python SDK or a proxy may legally send."""
    name = rng.choice(["inference m1", "inference ", "inference m9", "predict", "GET /", "inferencex"])
    parts = [
        Span(trace_id=bytes(rng.getrandbits(8) for _ in range(rng.choice([16, 16, 16, 0, 5])))),
        Span(span_id=bytes(rng.getrandbits(8) for _ in range(rng.choice([8, 8, 0])))),
        Span(name=name),
        Span(start_time_unix_nano=rng.getrandbits(63)),
        Span(end_time_unix_nano=rng.getrandbits(64)),
        Span(kind=rng.randint(0, 5)),
    ]
    chunks = [p.SerializeToString() for p in parts]
    chunks += [
        b"\xa8\x06\x2a",
        b"\xb5\x06" + struct.pack("<I", 9),
    ]  # unknown fields 101 (varint), 102 (fixed32)
    rng.shuffle(chunks)
    attrs = [Span(attributes=[kv]).SerializeToString() for kv in attributes(rng)]
    ordered: list[bytes] = []
    while attrs or chunks:
        take_attr = attrs and (not chunks or rng.random() < 0.6)
        ordered.append(attrs.pop(0) if take_attr else chunks.pop())
    return b"".join(ordered)


def request_bytes(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.randint(1, 2)):
        scope = b"".join(
            b"\x12" + _varint(len(s)) + s for s in (span_bytes(rng) for _ in range(rng.randint(0, 12)))
        )
        scope_spans = ScopeSpans().SerializeToString() + scope
        resource = (
            ResourceSpans(schema_url="s").SerializeToString()
            + b"\x12"
            + _varint(len(scope_spans))
            + scope_spans
        )
        out += b"\x0a" + _varint(len(resource)) + resource
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def normalized(scan: Scan) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Scan contents with string references resolved (interning order may differ)."""
    strings = [*scan.strings, None]
    spans = [
        (
            bytes(s["trace_id"]),
            bytes(s["span_id"]),
            int(s["end_time"]),
            strings[s["model"]],
            strings[s["version"]],
            strings[s["pid"]],
            int(s["nrows"]),
            int(s["offset"]),
        )
        for s in scan.spans
    ]
    cells = [
        (
            int(c["span"]),
            strings[c["key"]],
            int(c["row"]),
            int(c["role"]),
            int(c["kind"]),
            strings[c["str"]],
            int(c["inum"]),
            struct.pack("<d", c["dnum"]),
        )
        for c in scan.cells
    ]
    return spans, cells


def batches_equal(a, b) -> None:  # type: ignore[no-untyped-def]
    assert [x.key for x in a] == [y.key for y in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.trace_id, y.trace_id)
        np.testing.assert_array_equal(x.span_id, y.span_id)
        np.testing.assert_array_equal(x.time_unix_nano, y.time_unix_nano)
        assert x.prediction_id == y.prediction_id and x.invalid == y.invalid
        assert (x.span_offset is None) == (y.span_offset is None)
        if x.span_offset is not None:
            np.testing.assert_array_equal(x.span_offset, y.span_offset)
        for cols_x, cols_y in [
            (x.numeric, y.numeric),
            (x.categorical, y.categorical),
            (x.segments, y.segments),
        ]:
            assert cols_x.keys() == cols_y.keys()
            for k in cols_x:
                np.testing.assert_array_equal(cols_x[k], cols_y[k])
        for vx, vy in [(x.prediction_value, y.prediction_value), (x.prediction_score, y.prediction_score)]:
            assert (vx is None) == (vy is None)
            if vx is not None:
                np.testing.assert_array_equal(vx, vy)


def test_request_generator_produces_valid_protobuf() -> None:
    rng = random.Random(1)
    for _ in range(20):
        raw = request_bytes(rng)
        message = ExportTraceServiceRequest.FromString(raw)
        assert sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans) >= 0


@pytest.mark.parametrize("seed", range(300))
def test_fast_scan_equals_reference_scan(seed: int) -> None:
    rng = random.Random(seed)
    raw = request_bytes(rng)
    fast, reference = scan_fast(raw), scan_reference(raw)
    assert normalized(fast) == normalized(reference)
    small = Caps(max_models=2, max_features_per_model=3, max_categories_per_feature=2)
    for caps in (Caps(), small):
        batches_equal(assemble(fast, Schema(caps)).batches, assemble(reference, Schema(caps)).batches)


def test_the_generator_covers_the_interesting_cases() -> None:
    """Guard against a generator that silently stops producing what the equivalence test relies on."""
    seen: set[str] = set()
    for seed in range(300):
        scan = scan_reference(request_bytes(random.Random(seed)))
        seen.update(f"kind{k}" for k in set(scan.cells["kind"].tolist()))
        if (scan.cells["row"] >= 0).any():
            seen.add("array")
        if (scan.spans["model"] < 0).any():
            seen.add("no_model")
        for batch in assemble(scan, Schema(Caps())).batches:
            seen.update("invalid" for _ in batch.invalid)
            seen.update("categorical" for _ in batch.categorical)
    assert {
        "kind0",
        "kind1",
        "kind2",
        "kind3",
        "kind4",
        "array",
        "no_model",
        "invalid",
        "categorical",
    } <= seen


@pytest.mark.parametrize("seed", range(40))
def test_truncated_requests_fail_in_both_or_agree(seed: int) -> None:
    rng = random.Random(1000 + seed)
    raw = request_bytes(rng)
    cut = raw[: rng.randint(0, max(0, len(raw) - 1))]
    try:
        fast = scan_fast(cut)
    except ValueError:
        return  # scan() falls back to the reference path, which decides
    try:
        reference = scan_reference(cut)
    except DecodeError:
        pytest.fail("the fast scanner accepted bytes that protobuf rejects")
    assert normalized(fast) == normalized(reference)


def _protobuf_verdict(raw: bytes) -> tuple[int, int] | None:
    """(spans, spans with invalid ids) per protobuf and the OTLP id rules, None if protobuf rejects."""
    try:
        message = ExportTraceServiceRequest.FromString(raw)
    except DecodeError:
        return None
    spans = [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    bad = [
        s
        for s in spans
        if len(s.trace_id) != 16 or len(s.span_id) != 8 or not any(s.trace_id) or not any(s.span_id)
    ]
    return len(spans), len(bad)


@pytest.mark.parametrize("seed", range(150))
def test_check_traces_never_vouches_for_what_protobuf_rejects(seed: int) -> None:
    rng = random.Random(5000 + seed)
    raw = bytearray(request_bytes(rng))
    expected = _protobuf_verdict(bytes(raw))
    assert expected is not None and check_traces(bytes(raw)) == expected
    for _ in range(5):  # corrupt: flip bytes, or truncate
        bad = bytearray(raw)
        if bad and rng.random() < 0.7:
            for _ in range(rng.randint(1, 3)):
                bad[rng.randrange(len(bad))] = rng.randrange(256)
        else:
            del bad[rng.randint(0, len(bad)) :]
        verdict = check_traces(bytes(bad))
        if verdict is not None:
            assert verdict == _protobuf_verdict(bytes(bad))


def test_check_traces_refuses_invalid_utf8_anywhere() -> None:
    good = Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="inference m")
    for broken in [
        Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="x"),  # name patched below
        Span(
            trace_id=b"\1" * 16,
            span_id=b"\2" * 8,
            attributes=[KeyValue(key="k", value=AnyValue(string_value="x"))],
        ),
    ]:
        body = broken.SerializeToString().replace(b"x", b"\xff")
        request = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good])])]
        ).SerializeToString()
        scope = b"\x12" + _varint(len(body)) + body
        raw = request + b"\x0a" + _varint(len(scope) + 2) + b"\x12" + _varint(len(scope)) + scope
        assert _protobuf_verdict(raw) is None
        assert check_traces(raw) is None
    ok = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good])])])
    assert check_traces(ok.SerializeToString()) == (1, 0)


def _uniform_request(rng: random.Random, shuffle: bool) -> bytes:
    """Spans with the same ml.* keys (values of any type); `shuffle` permutes each span's attributes."""
    keys = ["ml.feature.a", "ml.feature.b", "ml.feature.c", "ml.prediction.score", "ml.segment.s"]
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    values = [
        [any_value(rng) if rng.random() < 0.3 else AnyValue(double_value=rng.gauss(0, 1)) for _ in keys]
    ]
    for i in range(rng.randint(1, 30)):
        row = [any_value(rng) if rng.random() < 0.3 else AnyValue(double_value=rng.gauss(0, 1)) for _ in keys]
        attrs = [KeyValue(key="ml.model.name", value=AnyValue(string_value="m"))]
        attrs += [KeyValue(key=k, value=v) for k, v in zip(keys, row if i else values[0], strict=True)]
        if shuffle:
            random.Random(i).shuffle(attrs)
        spans.add(
            trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8, name="inference m", attributes=attrs
        )
    return request.SerializeToString()


@pytest.mark.parametrize("seed", range(60))
def test_attribute_order_within_spans_does_not_change_the_batch(seed: int) -> None:
    """Same-keys-in-same-order requests take a sort-free path; shuffled ones the general path."""
    uniform = _uniform_request(random.Random(seed), shuffle=False)
    shuffled = _uniform_request(random.Random(seed), shuffle=True)
    for scanner in (scan_fast, scan_reference):
        batches_equal(
            assemble(scanner(uniform), Schema(Caps())).batches,
            assemble(scanner(shuffled), Schema(Caps())).batches,
        )


def test_large_request_then_small_one_reuse_the_scanner_buffers_correctly() -> None:
    """Thousands of distinct strings grow the C intern table and buffers; the next call reuses them."""
    big = ExportTraceServiceRequest()
    spans = big.resource_spans.add().scope_spans.add().spans
    for i in range(6000):
        attrs = [
            KeyValue(key="ml.model.name", value=AnyValue(string_value=f"m{i % 3}")),
            KeyValue(key="ml.prediction.id", value=AnyValue(string_value=f"pid-{i}")),
            KeyValue(key=f"ml.feature.f{i % 50}", value=AnyValue(string_value=f"cat-{i}")),
            KeyValue(
                key="ml.feature.x", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=i)] * 3))
            ),
        ]
        spans.add(
            trace_id=i.to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name="inference m",
            attributes=attrs,
        )
    small = _uniform_request(random.Random(3), shuffle=False)
    for raw in (big.SerializeToString(), small, big.SerializeToString()):
        fast, reference = scan_fast(raw), scan_reference(raw)
        assert normalized(fast) == normalized(reference)
        caps = Caps(max_categories_per_feature=100)
        batches_equal(assemble(fast, Schema(caps)).batches, assemble(reference, Schema(caps)).batches)
    assert len(scan_fast(big.SerializeToString()).strings) > 12000
