"""Protobuf wire-format primitives: the one varint reader, the one field skip, and the walks over a
traces request's containers (ResourceSpans > ScopeSpans > Span) built on them."""

from __future__ import annotations

__all__ = ["encode_varint", "fields", "read_varint", "skip_field", "span_id_of", "span_offsets"]


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, position after it) of the base-128 varint at `pos`; ValueError past 10 bytes."""
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def skip_field(buf: bytes | memoryview, pos: int, wire: int) -> int:
    """Position after the value of a non-length-delimited field (wire type 0, 1 or 5) at `pos`;
    ValueError for groups (3, 4) and unknown wire types."""
    if wire == 0:
        return read_varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise ValueError(f"unsupported wire type {wire}")


def fields(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field number, tag start, value start, value end) of every length-delimited field of the
    message in [start, end); ValueError when a field overruns it."""
    out = []
    pos = start
    while pos < end:
        tag_start = pos
        key, pos = read_varint(buf, pos)
        wire = key & 7
        if wire == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > end:
                raise ValueError("field overruns its message")
            out.append((key >> 3, tag_start, pos, pos + n))
            pos += n
        else:
            pos = skip_field(buf, pos, wire)
    if pos != end:
        raise ValueError("message overruns its length")
    return out


def span_id_of(raw: bytes, start: int, end: int) -> bytes:
    """The span id of the Span in [start, end). Every encoder writes trace_id then span_id first, so
    that layout is read in place; otherwise the last span_id field (protobuf: the last one wins)."""
    if (
        end - start >= 28
        and raw[start] == 0x0A
        and raw[start + 1] == 0x10
        and raw[start + 18] == 0x12
        and raw[start + 19] == 0x08
    ):
        return raw[start + 20 : start + 28]
    sid = b""
    for number, _, vs, ve in fields(raw, start, end):
        if number == 2:
            sid = raw[vs:ve]
    return sid


def span_offsets(raw: bytes) -> list[int] | None:
    """Offset of every span's field tag in a traces request, in request order; None if the bytes hold
    something this walk does not read (protobuf may still decode them)."""
    out: list[int] = []

    def walk(start: int, end: int, depth: int) -> None:
        pos = start
        while pos < end:
            tag_pos = pos
            key, pos = read_varint(raw, pos)
            wire = key & 7
            if wire != 2:
                pos = skip_field(raw, pos, wire)
                continue
            size, pos = read_varint(raw, pos)
            if key >> 3 == (1 if depth == 0 else 2):
                if depth == 2:
                    out.append(tag_pos)
                else:
                    walk(pos, pos + size, depth + 1)
            pos += size

    try:
        walk(0, len(raw), 0)
    except (IndexError, ValueError):
        return None
    return out
