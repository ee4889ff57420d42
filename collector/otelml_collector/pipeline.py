"""The unit of work flowing receiver -> processors -> exporters, and the processor protocol.

A request is decoded at most once (`message`, lazily) and forwarded as the bytes it arrived in
unless a processor changed it (`modified`). Processors are plain objects with `process(request)`,
chained in order, as in structlog's pipeline; the ML extraction processor fills `records`, which
the drift, quality and performance processors read. Processors change spans through the request's
seams (`tag_spans`), never through its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from otelml_collector.otlp import REQUEST_TYPES, Signal
from otelml_collector.otlp import splice as _splice

if TYPE_CHECKING:
    from otelml_collector.records import ModelBatch

__all__ = ["Processor", "Signal", "TelemetryRequest"]


class TelemetryRequest:
    """One received Export*ServiceRequest."""

    __slots__ = (
        "_message", "cells", "items", "labels", "labels_stored", "modified", "raw", "records", "signal",
    )

    def __init__(
        self,
        signal: Signal,
        raw: bytes | None,
        message: Any = None,
        modified: bool = False,
        records: list[ModelBatch] | None = None,
        items: int = 0,
        cells: int = 0,
    ) -> None:
        self.signal = signal
        self.raw = raw  # serialized request as received (protobuf); None if built in memory
        self._message = message  # decoded from `raw` on first access when None
        self.modified = modified  # a processor changed `message`; exporters must re-serialize
        self.records: list[ModelBatch] = [] if records is None else records
        self.items = items  # spans / metric data points / log records, counted by the receiver
        self.cells = cells  # attributes, kvlist entries and array elements (`otlp.cells`)
        self.labels: list[Any] | None = None  # its label spans, read once (`predstore.index.labels_of`)
        self.labels_stored: list[Any] | None = None  # those the prediction store keeps, once joined

    def __repr__(self) -> str:
        return (
            f"TelemetryRequest(signal={self.signal!s}, raw={len(self.raw or b'')} bytes, "
            f"decoded={self.decoded}, modified={self.modified}, items={self.items}, "
            f"records={len(self.records)})"
        )

    @property
    def message(self) -> Any:
        """The decoded request; the receiver may skip decoding (a C check vouched for the bytes), so
        it is decoded on first use."""
        if self._message is None and self.raw is not None:
            self._message = REQUEST_TYPES[self.signal].FromString(self.raw)
        return self._message

    @message.setter
    def message(self, value: Any) -> None:
        self._message = value

    @property
    def decoded(self) -> bool:
        return self._message is not None

    def unmodified_bytes(self) -> bytes | None:
        """The received bytes while they still describe the request (no processor changed the
        message), for readers of the wire format (`otlp.fastscan`); else None."""
        return None if self.modified else self.raw

    def payload(self) -> bytes:
        """Bytes to forward: the original ones unless a processor modified the message."""
        if self.modified or self.raw is None:
            return self.message.SerializeToString()
        return self.raw

    def tag_spans(self, attrs_by_span: _splice.AttrsBySpan, at: Mapping[int, bytes] | None = None) -> int:
        """Append attributes to spans of a traces request (span id -> KeyValues); returns how many
        spans changed. An undecoded request is spliced in place (`at`: span byte offset -> span id,
        from `ModelBatch.span_offset`, lets the splice jump to them); otherwise, or when the bytes
        surprise the splice, the decoded message is edited (protobuf judges the bytes)."""
        if self._message is None and self.raw is not None:
            raw = self.raw if isinstance(self.raw, bytes) else bytes(self.raw)
            spliced = _splice.tag_spans(raw, attrs_by_span, at)
            if spliced is not None:
                self.raw, changed = spliced
                return changed
        message = self.message
        if message is None:
            return 0
        changed = _splice.tag_message(message, attrs_by_span)
        if changed:
            self.modified = True
        return changed


class Processor(Protocol):
    def process(self, request: TelemetryRequest) -> TelemetryRequest: ...
