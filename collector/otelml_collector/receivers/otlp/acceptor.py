"""What a protocol server hands requests to: the receiver implements it, the servers only know this."""

from __future__ import annotations

from typing import Protocol

from otelml_collector.otlp import Decoded, Signal

__all__ = ["Acceptor"]


class Acceptor(Protocol):
    def accept(
        self, signal: Signal, raw: bytes, decoded: Decoded, json_body: bool, transport: str = ""
    ) -> float | None:
        """Hand a decoded request to the pipeline; None when queued, else retry-after seconds."""

    def may_wait(self, signal: Signal) -> bool:
        """Whether `accept` may wait on I/O (e.g. until a durable queue has the request on disk)."""

    def refused(self, signal: Signal, reason: str, detail: str, transport: str = "") -> None:
        """Count a request refused before decoding (bad body, too large...)."""
