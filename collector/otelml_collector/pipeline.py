"""The unit of work flowing receiver -> processors -> exporters, and the processor protocol.

A request is decoded at most once (`message`, lazily) and forwarded as the bytes it arrived in
unless a processor changed it (`modified`). Processors are plain objects with `process(request)`,
chained in order, as in structlog's pipeline; the ML extraction processor fills `records`, which
the drift, quality and performance processors read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from otelml_collector.records import ModelBatch

__all__ = ["Processor", "Signal", "TelemetryRequest"]


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


@dataclass
class TelemetryRequest:
    signal: Signal
    raw: bytes | None  # serialized Export*ServiceRequest as received (protobuf); None if built in memory
    message: Any = None  # decoded Export*ServiceRequest; decoded from `raw` on first access when None
    modified: bool = False  # a processor changed `message`; exporters must re-serialize
    records: list[ModelBatch] = field(default_factory=list)
    items: int = 0  # spans / metric data points / log records in the request, counted by the receiver

    def payload(self) -> bytes:
        """Bytes to forward: the original ones unless a processor modified the message."""
        if self.modified or self.raw is None:
            return self.message.SerializeToString()
        return self.raw


def _get_message(self: TelemetryRequest) -> Any:
    # The receiver may skip decoding (a C check vouched for the bytes); decode on first use.
    message = self.__dict__.get("_message")
    if message is None and self.raw is not None:
        from otelml_collector.otlp import REQUEST_TYPES

        message = self.__dict__["_message"] = REQUEST_TYPES[self.signal].FromString(self.raw)
    return message


def _set_message(self: TelemetryRequest, value: Any) -> None:
    self.__dict__["_message"] = value


TelemetryRequest.message = property(_get_message, _set_message)  # type: ignore[assignment]


class Processor(Protocol):
    def process(self, request: TelemetryRequest) -> TelemetryRequest: ...
