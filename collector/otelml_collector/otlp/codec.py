"""Decoding of OTLP request bodies (protobuf and OTLP/JSON), item counts, validation for partial
success, and the responses the receiver returns."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from otelml_collector.otlp._json import MAX_MESSAGE_DEPTH, JsonError, parse_otlp_json
from otelml_collector.otlp.cells import TooManyCells, count_cells, load_json_bounded
from otelml_collector.otlp.fastscan import check_traces_cells
from otelml_collector.otlp.signals import REQUEST_TYPES, RESPONSE_TYPES, Signal

__all__ = [
    "Decoded",
    "InvalidRequest",
    "RequestTooManyCells",
    "count_items",
    "decode",
    "decode_checked",
    "response",
    "to_json",
]

_REJECTED_FIELD = {
    Signal.TRACES: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}


class InvalidRequest(ValueError):
    """The body is not a decodable OTLP request (gRPC INVALID_ARGUMENT / HTTP 400)."""


class RequestTooManyCells(InvalidRequest):
    """More cells than `max_cells` (gRPC INVALID_ARGUMENT / HTTP 400); the message names the limit."""


@dataclass
class Decoded:
    message: Any
    items: int  # accepted spans / data points / log records
    rejected: int = 0
    reason: str = ""  # why items were rejected (partial success message)
    # attributes, kvlist entries and array elements (`otlp.cells`); for a decoded body too short to
    # exceed the limit (not walked), its item count
    cells: int = 0


def decode(signal: Signal, body: bytes, *, json_body: bool = False, max_cells: int | None = None) -> Decoded:
    """Parse a request body; invalid items (e.g. spans with a malformed trace id) are removed and
    counted as rejected, the rest is accepted. Raises `InvalidRequest` naming the problem, and
    `RequestTooManyCells` when the request has more than `max_cells` cells."""
    cls = REQUEST_TYPES[signal]
    if not json_body:
        vouched = decode_checked(signal, body, max_cells=max_cells)
        if vouched is not None:
            return vouched
    if json_body:
        message = _from_json(cls, signal, body, max_cells)
    else:
        try:
            message = cls.FromString(body)
        except DecodeError as exc:
            raise InvalidRequest(f"body is not a valid protobuf {cls.__name__}: {exc}") from exc
    # Every cell takes >= 2 bytes on the wire (JSON: `{}`), so a shorter body cannot exceed the
    # limit and is not walked (the walk costs ~0.5 us a cell, more than protobuf's decode).
    cells = -1
    if max_cells is None or len(body) > 2 * max_cells:
        cells = count_cells(signal, message)
        _check_cells(cells, max_cells)
    rejected, reason = _VALIDATORS[signal](message)
    items = count_items(signal, message)
    return Decoded(message, items, rejected, reason, cells if cells >= 0 else items)


def decode_checked(signal: Signal, body: bytes, *, max_cells: int | None = None) -> Decoded | None:
    """`decode` of a protobuf body by the C check alone (GIL released, no Python objects): a Decoded
    without message when the check vouches for every item, else None (not traces, the C module not
    built, bytes for protobuf to judge, or invalid items to drop). Raises `RequestTooManyCells`."""
    if signal is not Signal.TRACES:
        return None
    checked = check_traces_cells(body)  # C schema walk, ~4x cheaper than decoding + validating
    if checked is None:
        return None
    _check_cells(checked[2], max_cells)  # refused before anything is decoded
    if checked[1]:  # invalid ids: protobuf decodes and drops them
        return None
    return Decoded(None, checked[0], cells=checked[2])  # .message decodes if a processor asks


def _check_cells(cells: int, max_cells: int | None) -> None:
    if max_cells is not None and cells > max_cells:
        raise RequestTooManyCells(str(TooManyCells(cells, max_cells)))


def response(signal: Signal, rejected: int = 0, message: str = "") -> Message:
    resp = RESPONSE_TYPES[signal]()
    if rejected or message:
        setattr(resp.partial_success, _REJECTED_FIELD[signal], rejected)
        resp.partial_success.error_message = message
    return resp


def count_items(signal: Signal, message: Any) -> int:
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    n = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    n += len(getattr(metric, kind).data_points)
    return n


# -- partial success: drop what no backend could store, keep the rest --------------------------
def _drop_invalid(groups: Any, field: str, bad: Any, weight: Any = lambda item: 1) -> int:
    """Delete the items of `field` in every group for which `bad(item)` holds; their weight, summed.

    Linear: a group with invalid items is rebuilt once from the valid ones (deleting one at a time
    from a repeated field moves the rest each time, quadratic in the group's size)."""
    rejected = 0
    for group in groups:
        items = getattr(group, field)
        flags = [bool(bad(item)) for item in items]
        if not any(flags):
            continue
        rejected += sum(weight(item) for item, flag in zip(items, flags, strict=True) if flag)
        kept = [item for item, flag in zip(items, flags, strict=True) if not flag]
        if kept:
            copies = type(group)()
            getattr(copies, field).extend(kept)  # copy the valid ones out before clearing the field
            group.ClearField(field)
            getattr(group, field).MergeFrom(getattr(copies, field))
        else:
            group.ClearField(field)
    return rejected


def _validate_traces(message: Any) -> tuple[int, str]:
    rejected = _drop_invalid(
        (ss for rs in message.resource_spans for ss in rs.scope_spans),
        "spans",
        lambda s: len(s.trace_id) != 16 or len(s.span_id) != 8 or not any(s.trace_id) or not any(s.span_id),
    )
    return rejected, "spans need a non-zero 16-byte trace_id and 8-byte span_id" if rejected else ""


def _validate_logs(message: Any) -> tuple[int, str]:
    rejected = _drop_invalid(
        (sl for rl in message.resource_logs for sl in rl.scope_logs),
        "log_records",
        lambda r: len(r.trace_id) not in (0, 16) or len(r.span_id) not in (0, 8),
    )
    why = "log records' trace_id must be empty or 16 bytes, span_id empty or 8 bytes"
    return rejected, why if rejected else ""


def _points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


def _validate_metrics(message: Any) -> tuple[int, str]:
    rejected = _drop_invalid(
        (sm for rm in message.resource_metrics for sm in rm.scope_metrics),
        "metrics",
        lambda m: not m.name,
        _points,
    )
    return rejected, "metrics need a name" if rejected else ""


_VALIDATORS: dict[Signal, Callable[[Any], tuple[int, str]]] = {
    Signal.TRACES: _validate_traces,
    Signal.METRICS: _validate_metrics,
    Signal.LOGS: _validate_logs,
}


# -- OTLP/JSON: ids are hex strings (protobuf JSON would expect base64) -------------------------
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _from_json(cls: type[Message], signal: Signal, body: bytes, max_cells: int | None) -> Message:
    try:
        doc = load_json_bounded(body, max_cells)
    except TooManyCells as exc:
        raise RequestTooManyCells(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise InvalidRequest(
            f"JSON body nested deeper than the OTLP limit of {MAX_MESSAGE_DEPTH} messages"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidRequest(f"body must be a JSON object ({cls.__name__}), got {type(doc).__name__}")
    try:
        return parse_otlp_json(doc, cls())
    except JsonError as exc:
        raise InvalidRequest(f"JSON body is not a valid OTLP {cls.__name__}: {exc}") from exc


def to_json(message: Message) -> bytes:
    """OTLP/JSON encoding of a response or status (hex ids, camelCase)."""
    doc = json_format.MessageToDict(message)
    _base64_ids_to_hex(doc)
    return json.dumps(doc).encode()


def _base64_ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64decode(value).hex()
                except (binascii.Error, ValueError):
                    pass
            else:
                _base64_ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _base64_ids_to_hex(item)
