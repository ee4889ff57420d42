"""Add attributes to spans of an encoded traces request without decoding it.

Protobuf lets a repeated field (`Span.attributes`, field 9) continue anywhere in its message, so new
KeyValues are appended at the end of each tagged span and only the length prefixes of that span, its
ScopeSpans and its ResourceSpans are rewritten. The result decodes to exactly what extending the
decoded message gives (`tag_message`; tests/collector/test_drift_enrich.py). Decoding, editing and
re-encoding a 512-span request cost ~10 µs per span; the splice touches only the tagged spans.

`splice_at` jumps to spans by their byte offset (from the C scan) and checks each one (a span field
inside its ScopeSpans, carrying the expected span id); `splice_tags` walks every span and matches span
ids. `tag_spans` tries them in that order and returns None when the bytes hold a surprise, so the
caller can let protobuf judge them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from otelml_collector.otlp.wire import encode_varint, fields, read_varint, skip_field, span_id_of

__all__ = ["AttrsBySpan", "splice_at", "splice_tags", "tag_message", "tag_spans"]

AttrsBySpan = Mapping[bytes, Sequence[KeyValue]]
"""span id -> the KeyValues to append to that span."""

_SPAN_ATTRIBUTES_TAG = b"\x4a"  # Span field 9, length-delimited
_Child = tuple[int, int, int, Sequence[KeyValue] | None]  # length start, value start, end, attributes


def tag_spans(
    raw: bytes, attrs_by_span: AttrsBySpan, at: Mapping[int, bytes] | None = None
) -> tuple[bytes, int] | None:
    """(`raw` with the attributes appended, spans changed), or None when no span matched or the bytes
    are not what the walk expects. `at` (span offset in `raw` -> span id, the same spans as
    `attrs_by_span`) lets the splice jump to the spans instead of walking every one."""
    if at:
        try:
            return splice_at(raw, at, attrs_by_span)
        except (IndexError, ValueError, KeyError):
            pass  # offsets that do not fit these bytes: walk them below
    try:
        return splice_tags(raw, attrs_by_span)
    except (IndexError, ValueError):
        return None


def tag_message(message: Any, attrs_by_span: AttrsBySpan) -> int:
    """Extend the attributes of every matching span of a decoded traces request; spans changed."""
    changed = 0
    for rs in message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = attrs_by_span.get(span.span_id)
                if attrs:
                    span.attributes.extend(attrs)
                    changed += 1
    return changed


class _Encoder:
    """Encoded attribute bytes, once per distinct KeyValue sequence of a request."""

    def __init__(self) -> None:
        self._done: dict[int, bytes] = {}

    def body(self, raw: bytes, vs: int, ve: int, attrs: Sequence[KeyValue]) -> bytes:
        extra = self._done.get(id(attrs))
        if extra is None:
            extra = self._done[id(attrs)] = b"".join(
                _SPAN_ATTRIBUTES_TAG + encode_varint(len(b)) + b
                for b in (kv.SerializeToString() for kv in attrs)
            )
        return raw[vs:ve] + extra


def _containers(raw: bytes, start: int, end: int, level: int) -> list[tuple[int, int, int, None]]:
    """(length start, value start, value end, None) of the ResourceSpans (level 0) or ScopeSpans
    (level 1) fields of the message in [start, end)."""
    wanted = 1 if level == 0 else 2
    return [
        (read_varint(raw, tag_start)[1], vs, ve, None)
        for number, tag_start, vs, ve in fields(raw, start, end)
        if number == wanted
    ]


def _flagged_spans(
    buf: bytes, start: int, end: int, attrs_by_span: AttrsBySpan
) -> list[tuple[int, int, int, Sequence[KeyValue]]]:
    """(length start, value start, value end, attributes) of the flagged spans (field 2) of the
    ScopeSpans in [start, end). The splice's hot loop: one- and two-byte lengths are decoded inline."""
    out = []
    pos = start
    while pos < end:
        tag_start = pos
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key, pos = read_varint(buf, tag_start)
        wire = key & 7
        if wire != 2:
            pos = skip_field(buf, pos, wire)
            continue
        len_start = pos
        n = buf[pos]
        pos += 1
        if n >= 0x80:
            b2 = buf[pos]
            if b2 < 0x80:
                n = (n & 0x7F) | (b2 << 7)
                pos += 1
            else:
                n, pos = read_varint(buf, len_start)
        ve = pos + n
        if ve > end:
            raise ValueError("field overruns its message")
        if key == 0x12:
            attrs = attrs_by_span.get(span_id_of(buf, pos, ve))
            if attrs:
                out.append((len_start, pos, ve, attrs))
        pos = ve
    if pos != end:
        raise ValueError("message overruns its length")
    return out


def splice_tags(raw: bytes, attrs_by_span: AttrsBySpan) -> tuple[bytes, int] | None:
    """`raw` with the attributes appended to every matching span, and how many spans changed; None
    when no span of `raw` matches. Raises ValueError/IndexError on bytes the walk does not read."""
    changed = 0
    encoder = _Encoder()

    def rebuild(start: int, end: int, level: int) -> bytes | None:
        nonlocal changed
        out: list[bytes] = []
        cursor = start
        if level < 2:
            children: list[_Child] = list(_containers(raw, start, end, level))
        else:
            children = list(_flagged_spans(raw, start, end, attrs_by_span))
        for len_start, vs, ve, attrs in children:
            if attrs is None:
                body = rebuild(vs, ve, level + 1)
                if body is None:
                    continue
            else:
                body = encoder.body(raw, vs, ve, attrs)
                changed += 1
            out += [raw[cursor:len_start], encode_varint(len(body)), body]
            cursor = ve
        if not out:
            return None
        out.append(raw[cursor:end])
        return b"".join(out)

    result = rebuild(0, len(raw), 0)
    return None if result is None else (result, changed)


def splice_at(raw: bytes, at: Mapping[int, bytes], attrs_by_span: AttrsBySpan) -> tuple[bytes, int] | None:
    """`raw` with the attributes of span id `at[offset]` appended to the span whose field tag is at
    each offset, and how many spans changed; None when `at` is empty. Raises ValueError when an
    offset is not a span of `raw` with that span id."""
    offsets = sorted(at)
    if not offsets:
        return None
    used = 0
    view = memoryview(raw)  # slices of the unchanged stretches without copying them
    encoder = _Encoder()

    def spans_in(start: int, end: int) -> list[tuple[int, int, int, Sequence[KeyValue]]]:
        nonlocal used
        out = []
        prev_end = start
        for off in offsets[bisect_left(offsets, start) : bisect_left(offsets, end)]:
            if off < prev_end or raw[off] != 0x12:
                raise ValueError("span offset is not a span field")
            n, vs = read_varint(raw, off + 1)
            ve = vs + n
            if ve > end:
                raise ValueError("span overruns its ScopeSpans")
            sid = at[off]
            if span_id_of(raw, vs, ve) != sid:
                raise ValueError("span offset does not hold the flagged span")
            out.append((off + 1, vs, ve, attrs_by_span[sid]))
            prev_end = ve
        used += len(out)
        return out

    def rebuild(start: int, end: int, level: int) -> tuple[list[bytes | memoryview], int] | None:
        """The pieces of the new [start, end) and their total length (joined once, at the end)."""
        out: list[bytes | memoryview] = []
        size = end - start
        cursor = start
        if level < 2:
            children: list[_Child] = [
                c
                for c in _containers(raw, start, end, level)
                if bisect_left(offsets, c[1]) < bisect_left(offsets, c[2])  # holds a flagged span
            ]
        else:
            children = list(spans_in(start, end))
        for len_start, vs, ve, attrs in children:
            if attrs is None:
                inner = rebuild(vs, ve, level + 1)
                if inner is None:
                    continue
                pieces, n = inner
            else:
                body = encoder.body(raw, vs, ve, attrs)
                pieces, n = [body], len(body)
            prefix = encode_varint(n)
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
