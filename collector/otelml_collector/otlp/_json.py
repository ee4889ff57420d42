"""OTLP/JSON -> protobuf message, driven by the message descriptors.

`google.protobuf.json_format.ParseDict` is generic and slow (~0.3-1 ms per span, see
docs/benchmarks.md "Sidecar ingest by transport"); this walks the already-parsed JSON document once
with per-type field tables built from the descriptors, and applies the OTLP/JSON rules directly:
trace/span ids are hex, other bytes base64, 64-bit integers may be strings, enums integers (or names),
field names lowerCamelCase or as in the .proto, unknown fields ignored. A test checks it against
ParseDict on varied requests.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["JsonError", "parse_otlp_json"]

_HEX_IDS = {"trace_id", "span_id", "parent_span_id"}
_INTS = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SINT32,
}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}
_SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

# kind codes for the field table
_MESSAGE, _INT, _FLOAT, _BOOL, _STRING, _HEX, _BYTES, _ENUM = range(8)
_tables: dict[str, dict[str, tuple[str, int, bool, Any]]] = {}
_SKIP = object()


class JsonError(ValueError):
    """The JSON document does not match the OTLP message; the message names the field path."""


def _table(desc: Descriptor) -> dict[str, tuple[str, int, bool, Any]]:
    table = _tables.get(desc.full_name)
    if table is None:
        table = {}
        for f in desc.fields:
            if f.type == FieldDescriptor.TYPE_MESSAGE:
                kind, extra = _MESSAGE, f.message_type
            elif f.type in _INTS:
                kind, extra = _INT, None
            elif f.type in _FLOATS:
                kind, extra = _FLOAT, None
            elif f.type == FieldDescriptor.TYPE_BOOL:
                kind, extra = _BOOL, None
            elif f.type == FieldDescriptor.TYPE_STRING:
                kind, extra = _STRING, None
            elif f.type == FieldDescriptor.TYPE_BYTES:
                kind, extra = (_HEX if f.name in _HEX_IDS else _BYTES), None
            else:
                kind, extra = _ENUM, f.enum_type
            repeated = bool(f.is_repeated)
            table[f.json_name] = table[f.name] = (f.name, kind, repeated, extra)
        _tables[desc.full_name] = table
    return table


MAX_MESSAGE_DEPTH = 100
"""Nesting limit of messages in one request: protobuf's default decoding recursion limit, so nothing
accepted here is refused by a downstream protobuf decoder (each kvlist level nests three messages)."""


def parse_otlp_json(doc: Any, message: Message, path: str = "", depth: int = 1) -> Message:
    """Fill `message` from the JSON object `doc` (from `json.loads`)."""
    if not isinstance(doc, dict):
        raise JsonError(f"{path or 'body'}: expected a JSON object, got {type(doc).__name__}")
    if depth > MAX_MESSAGE_DEPTH:
        raise JsonError(f"{path}: messages nested deeper than {MAX_MESSAGE_DEPTH} levels (the OTLP/protobuf "
                        "decoding limit)")
    table = _table(message.DESCRIPTOR)
    for key, value in doc.items():
        spec = table.get(key)
        if spec is None or value is None:
            continue  # unknown fields are ignored (OTLP), null means unset
        name, kind, repeated, extra = spec
        where = f"{path}.{key}" if path else key
        if repeated:
            if not isinstance(value, list):
                raise JsonError(f"{where}: expected a JSON array, got {type(value).__name__}")
            target = getattr(message, name)
            if kind == _MESSAGE:
                for i, item in enumerate(value):
                    parse_otlp_json(item, target.add(), f"{where}[{i}]", depth + 1)
            else:
                items = [_scalar(kind, extra, item, f"{where}[{i}]") for i, item in enumerate(value)]
                try:
                    target.extend(x for x in items if x is not _SKIP)
                except (ValueError, TypeError) as exc:  # e.g. an integer out of the field's range
                    raise JsonError(f"{where}: {exc}") from None
        elif kind == _MESSAGE:
            parse_otlp_json(value, getattr(message, name), where, depth + 1)
            if not value:
                getattr(message, name).SetInParent()  # `{}` still selects a oneof member
        else:
            scalar = _scalar(kind, extra, value, where)
            if scalar is not _SKIP:
                try:
                    setattr(message, name, scalar)
                except (ValueError, TypeError) as exc:
                    raise JsonError(f"{where}: {exc}") from None
    return message


def _scalar(kind: int, extra: Any, value: Any, where: str) -> Any:
    try:
        if kind == _STRING:
            if isinstance(value, str):
                return value
        elif kind == _INT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return int(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind == _FLOAT:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                return _SPECIAL_FLOATS[value] if value in _SPECIAL_FLOATS else float(value)
        elif kind == _BOOL:
            if isinstance(value, bool):
                return value
        elif kind == _HEX:
            if isinstance(value, str):
                return bytes.fromhex(value)
        elif kind == _BYTES:
            if isinstance(value, str):
                return base64.b64decode(value, validate=False)
        elif kind == _ENUM:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):  # a name; unknown names are ignored like unknown fields
                return extra.values_by_name[value].number if value in extra.values_by_name else _SKIP
    except (ValueError, KeyError, binascii.Error):
        pass
    expected = {
        _STRING: "a string",
        _INT: "an integer",
        _FLOAT: "a number",
        _BOOL: "true or false",
        _HEX: "a hex string",
        _BYTES: "base64",
        _ENUM: "an enum number",
    }[kind]
    raise JsonError(f"{where}: expected {expected}, got {value!r}"[:300])
