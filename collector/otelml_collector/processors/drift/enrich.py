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
"""

from __future__ import annotations

from bisect import bisect_left

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from otelml_collector.pipeline import TelemetryRequest

__all__ = ["ATTR_DRIFT_FEATURES", "MARKER_PREFIX", "splice_tags", "tag_spans"]

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


def tag_spans(request: TelemetryRequest, flags: dict[bytes, set[str]], markers: bool = False) -> int:
    """Add the attributes to every span whose span id is in `flags`; returns how many spans changed."""
    undecoded = request.__dict__.get("_message") is None and request.raw is not None
    if undecoded:
        try:
            spliced = splice_tags(request.raw, flags, markers)
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
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
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


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _hit_fields(buf: bytes, start: int, end: int, hits: list[int]) -> list[tuple[int, int, int, int]]:
    """(field number, tag start, value start, value end) of the length-delimited fields of the message
    in [start, end) whose value contains a position in `hits` (sorted). Stops after the last hit: the
    rest is copied unchanged."""
    out = []
    pos, i, nh = start, bisect_left(hits, start), len(hits)
    while pos < end and i < nh and hits[i] < end:
        tag_start = pos
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(buf, tag_start)
        wire = key & 7
        if wire == 2:
            n = buf[pos]
            pos += 1
            if n >= 0x80:  # spans are usually 128..16383 bytes: a two-byte length
                b2 = buf[pos]
                if b2 < 0x80:
                    n = (n & 0x7F) | (b2 << 7)
                    pos += 1
                else:
                    n, pos = _varint(buf, pos - 1)
            ve = pos + n
            if ve > end:
                raise ValueError("field overruns its message")
            while i < nh and hits[i] < pos:
                i += 1
            if i < nh and hits[i] < ve:
                out.append((key >> 3, tag_start, pos, ve))
            pos = ve
        elif wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


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


def splice_tags(raw: bytes, flags: dict[bytes, set[str]], markers: bool = False) -> tuple[bytes, int] | None:
    """`raw` with the attributes appended to every flagged span, and how many spans changed; None when
    no flagged span id occurs in `raw`."""
    hits = []
    for sid in flags:
        needle, p = b"\x12\x08" + sid, raw.find(b"\x12\x08" + sid)
        while p >= 0:
            hits.append(p)
            p = raw.find(needle, p + 1)
    hits.sort()
    if not hits:
        return None
    changed = 0

    def rebuild(start: int, end: int, level: int) -> bytes:
        nonlocal changed
        out, cursor = [], start
        for field, tag_start, vs, ve in _hit_fields(raw, start, end, hits):
            if field != (1 if level == 0 else 2):
                continue
            if level < 2:
                body = rebuild(vs, ve, level + 1)
            else:
                body = _tagged_span(raw, vs, ve, flags, markers)
                if body is None:
                    continue
                changed += 1
            len_start = _varint(raw, tag_start)[1]
            out += [raw[cursor:len_start], _encode_varint(len(body)), body]
            cursor = ve
        out.append(raw[cursor:end])
        return b"".join(out)

    result = rebuild(0, len(raw), 0)
    return (result, changed) if changed else None


def _tagged_span(
    raw: bytes, start: int, end: int, flags: dict[bytes, set[str]], markers: bool
) -> bytes | None:
    for field, _, vs, ve in _fields(raw, start, end):
        if field == 2:
            names = flags.get(raw[vs:ve])
            if not names:
                return None
            extra = b"".join(
                _SPAN_ATTRIBUTES_TAG + _encode_varint(len(b)) + b
                for b in (kv.SerializeToString() for kv in _attributes(names, markers))
            )
            return raw[start:end] + extra
    return None
