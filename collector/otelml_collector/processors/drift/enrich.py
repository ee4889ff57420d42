"""Tag forwarded inference spans whose feature values the baseline (almost) never saw.

A tagged span gains `ml.drift.features` (string[], the normalised feature names, sorted) and, with
`enrich.markers`, one `ml.drift.<feature> = true` per flagged feature, so a trace backend search
(`ml.drift.features` exists / contains "age") finds the out-of-baseline predictions.

Decoding and re-encoding a 512-span request costs ~10 µs per span, and on stable traffic most
requests hold a value or two beyond the baseline's extremes, so when the request is still undecoded
the attributes are spliced into the received bytes instead: protobuf lets a repeated field
(`Span.attributes`, field 9) continue anywhere in its message, so the new KeyValues are appended at
the end of each tagged span and only the length prefixes of that span, its ScopeSpans and its
ResourceSpans are rewritten. The result decodes to exactly what modifying the message would give
(tests/collector/test_drift_enrich.py); any surprise in the bytes falls back to the message path.

The C scan gives every ML record its span's byte offset (`ModelBatch.span_offset`), so `splice_at`
walks only the request's ResourceSpans/ScopeSpans headers and jumps to the flagged spans; each one is
checked (a span field inside its ScopeSpans, carrying the expected span id) before it is touched, and
any mismatch falls back to the span-id walk (`splice_tags`).
"""

from __future__ import annotations

from bisect import bisect_left

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from otelml_collector._wire import read_varint as _varint
from otelml_collector.pipeline import TelemetryRequest

__all__ = ["ATTR_DRIFT_FEATURES", "MARKER_PREFIX", "splice_at", "splice_tags", "tag_spans"]

ATTR_DRIFT_FEATURES = "ml.drift.features"
MARKER_PREFIX = "ml.drift."
_SPAN_ATTRIBUTES_TAG = b"\x4a"  # field 9, length-delimited


def _attributes(names: set[str], markers: bool) -> list[KeyValue]:
    ordered = sorted(names)
    values = [AnyValue(string_value=n) for n in ordered]
    out = [KeyValue(key=ATTR_DRIFT_FEATURES, value=AnyValue(array_value=ArrayValue(values=values)))]
    if markers:
        out += [KeyValue(key=MARKER_PREFIX + n, value=AnyValue(bool_value=True)) for n in ordered]
    return out


def tag_spans(
    request: TelemetryRequest,
    flags: dict[bytes, set[str]],
    markers: bool = False,
    at: dict[int, tuple[bytes, set[str]]] | None = None,
) -> int:
    """Add the attributes to every span whose span id is in `flags`; returns how many spans changed.
    `at` (span offset in `request.raw` -> (span id, names), the same spans as `flags`) lets the
    splice jump to them instead of walking every span."""
    raw = request.raw
    if request.__dict__.get("_message") is None and raw is not None:
        raw = bytes(raw) if not isinstance(raw, bytes) else raw
        spliced = None
        if at:
            try:
                spliced = splice_at(raw, at, markers)
            except (IndexError, ValueError):
                spliced = None  # offsets that do not fit these bytes: walk them below
        try:
            if spliced is None:
                spliced = splice_tags(raw, flags, markers)
        except (IndexError, ValueError):
            spliced = None  # unexpected bytes: let protobuf judge them below
        if spliced is not None:
            request.raw, changed = spliced
            return changed
    message = request.message
    if message is None:
        return 0
    changed = 0
    for rs in message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                names = flags.get(span.span_id)
                if names:
                    span.attributes.extend(_attributes(names, markers))
                    changed += 1
    if changed:
        request.modified = True
    return changed


# -- protobuf wire format ----------------------------------------------------------------------------
def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _fields(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Every length-delimited field of the message in [start, end) (see `_hit_fields`)."""
    out = []
    pos = start
    while pos < end:
        tag_start = pos
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ValueError("field overruns its message")
            out.append((key >> 3, tag_start, pos, pos + n))
            pos += n
        elif wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != end:
        raise ValueError("message overruns its length")
    return out


def _flagged_spans(
    buf: bytes, start: int, end: int, flags: dict[bytes, set[str]]
) -> list[tuple[int, int, int, set[str]]]:
    """(length start, value start, value end, names) of the flagged spans (field 2) of the ScopeSpans
    in [start, end). The splice's hot loop: one- and two-byte lengths are decoded inline, and the span
    id is read in place when the span starts with trace_id and span_id (as every encoder writes it)."""
    out = []
    pos = start
    while pos < end:
        tag_start = pos
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(buf, tag_start)
        wire = key & 7
        if wire == 2:
            len_start = pos
            n = buf[pos]
            pos += 1
            if n >= 0x80:
                b2 = buf[pos]
                if b2 < 0x80:
                    n = (n & 0x7F) | (b2 << 7)
                    pos += 1
                else:
                    n, pos = _varint(buf, len_start)
            ve = pos + n
            if ve > end:
                raise ValueError("field overruns its message")
            if key == 0x12:
                if (
                    n >= 28
                    and buf[pos] == 0x0A
                    and buf[pos + 1] == 0x10
                    and buf[pos + 18] == 0x12
                    and (buf[pos + 19] == 0x08)
                ):
                    names = flags.get(buf[pos + 20 : pos + 28])
                else:
                    names = flags.get(_span_id(buf, pos, ve))
                if names:
                    out.append((len_start, pos, ve, names))
            pos = ve
        elif wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != end:
        raise ValueError("message overruns its length")
    return out


def _span_id(raw: bytes, start: int, end: int) -> bytes:
    """The last span_id field of the span in [start, end) (protobuf: the last occurrence wins)."""
    sid = b""
    for field, _, vs, ve in _fields(raw, start, end):
        if field == 2:
            sid = raw[vs:ve]
    return sid


def splice_tags(raw: bytes, flags: dict[bytes, set[str]], markers: bool = False) -> tuple[bytes, int] | None:
    """`raw` with the attributes appended to every flagged span, and how many spans changed; None when
    no span of `raw` is flagged."""
    changed = 0

    def rebuild(start: int, end: int, level: int) -> bytes | None:
        nonlocal changed
        out: list[bytes] = []
        cursor = start
        if level < 2:
            wanted = 1 if level == 0 else 2  # resource_spans / scope_spans
            children: list[tuple[int, int, int, set[str] | None]] = [
                (_varint(raw, tag_start)[1], vs, ve, None)
                for field, tag_start, vs, ve in _fields(raw, start, end)
                if field == wanted
            ]
        else:
            children = list(_flagged_spans(raw, start, end, flags))
        for len_start, vs, ve, names in children:
            if names is None:
                body = rebuild(vs, ve, level + 1)
                if body is None:
                    continue
            else:
                body = _tagged_body(raw, vs, ve, names, markers)
                changed += 1
            out += [raw[cursor:len_start], _encode_varint(len(body)), body]
            cursor = ve
        if not out:
            return None
        out.append(raw[cursor:end])
        return b"".join(out)

    result = rebuild(0, len(raw), 0)
    return None if result is None else (result, changed)


def _tagged_body(raw: bytes, vs: int, ve: int, names: set[str], markers: bool) -> bytes:
    return raw[vs:ve] + b"".join(
        _SPAN_ATTRIBUTES_TAG + _encode_varint(len(b)) + b
        for b in (kv.SerializeToString() for kv in _attributes(names, markers))
    )


def splice_at(
    raw: bytes, at: dict[int, tuple[bytes, set[str]]], markers: bool = False
) -> tuple[bytes, int] | None:
    """`raw` with the attributes appended to the span whose field tag is at each offset of `at`
    (offset -> (expected span id, names)), and how many spans changed; None when `at` is empty.
    Raises ValueError when an offset is not a span of `raw` with that span id."""
    offsets = sorted(at)
    if not offsets:
        return None
    used = 0
    view = memoryview(raw)  # slices of the unchanged stretches without copying them

    def spans_in(start: int, end: int) -> list[tuple[int, int, int, set[str]]]:
        nonlocal used
        out = []
        prev_end = start
        for off in offsets[bisect_left(offsets, start) : bisect_left(offsets, end)]:
            if off < prev_end or raw[off] != 0x12:
                raise ValueError("span offset is not a span field")
            n, vs = _varint(raw, off + 1)
            ve = vs + n
            if ve > end:
                raise ValueError("span overruns its ScopeSpans")
            sid, names = at[off]
            if (
                n >= 28
                and raw[vs] == 0x0A
                and raw[vs + 1] == 0x10
                and raw[vs + 18] == 0x12
                and raw[vs + 19] == 0x08
            ):
                found = raw[vs + 20 : vs + 28]
            else:
                found = _span_id(raw, vs, ve)
            if found != sid:
                raise ValueError("span offset does not hold the flagged span")
            out.append((off + 1, vs, ve, names))
            prev_end = ve
        used += len(out)
        return out

    def rebuild(start: int, end: int, level: int) -> tuple[list[bytes | memoryview], int] | None:
        """The pieces of the new [start, end) and their total length (joined once, at the end)."""
        out: list[bytes | memoryview] = []
        size = end - start
        cursor = start
        if level < 2:
            wanted = 1 if level == 0 else 2  # resource_spans / scope_spans
            children: list[tuple[int, int, int, set[str] | None]] = [
                (_varint(raw, tag_start)[1], vs, ve, None)
                for field, tag_start, vs, ve in _fields(raw, start, end)
                if field == wanted and bisect_left(offsets, vs) < bisect_left(offsets, ve)
            ]
        else:
            children = list(spans_in(start, end))
        for len_start, vs, ve, names in children:
            if names is None:
                inner = rebuild(vs, ve, level + 1)
                if inner is None:
                    continue
                pieces, n = inner
            else:
                body = _tagged_body(raw, vs, ve, names, markers)
                pieces, n = [body], len(body)
            prefix = _encode_varint(n)
            out += [view[cursor:len_start], prefix, *pieces]
            size += len(prefix) - (vs - len_start) + n - (ve - vs)
            cursor = ve
        if not out:
            return None
        out.append(view[cursor:end])
        return out, size

    result = rebuild(0, len(raw), 0)
    if used != len(offsets) or result is None:
        raise ValueError("a span offset lies outside every ScopeSpans")
    return b"".join(result[0]), used
