"""Protobuf wire-format primitives shared by the Python paths that read request bytes in place."""

from __future__ import annotations

__all__ = ["read_varint"]


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
