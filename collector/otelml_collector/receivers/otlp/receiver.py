"""The `otlp` receiver: OTLP/gRPC (grpcio) and OTLP/HTTP (aiohttp) in front of the pipeline.

Each request is decoded once (`otelml_collector.otlp.decode`), malformed items are rejected with
an OTLP partial success, and the rest is handed to the service's consumer together with the
original bytes, which are forwarded unchanged unless a processor modifies the message. When the
pipeline queue is full the client gets RESOURCE_EXHAUSTED (gRPC, with RetryInfo) or 503 with
`Retry-After` (HTTP) and the request is counted as refused: nothing is accepted that cannot be
queued, so memory stays bounded by the queue limits, the message size limits and the number of
concurrent requests.
"""

from __future__ import annotations

import logging
from typing import Any

from otelml_collector.component import ComponentContext, Consumer, ServerAuthenticator
from otelml_collector.otlp import Decoded, Signal
from otelml_collector.pipeline import TelemetryRequest
from otelml_collector.receivers.otlp.config import OtlpReceiverConfig
from otelml_collector.security import AuthConfig
from otelml_collector.telemetry import Counters

__all__ = ["Consumer", "OtlpReceiver"]


class OtlpReceiver:
    """Runs the enabled protocol servers; `consumer` must be set before `start()`."""

    def __init__(self, config: OtlpReceiverConfig, ctx: ComponentContext) -> None:
        self.config = config
        self.ctx = ctx
        self.counters: Counters = ctx.settings.get("counters") or Counters()
        self.consumer: Consumer | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self._grpc: Any = None
        self._http: Any = None
        self._started = False
        self._stopped = False
        self._log = ctx.log.getChild("receiver")
        self._warned: set[str] = set()

    def set_consumer(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.consumer is None:
            raise RuntimeError(f"receiver {self.ctx.name}: no consumer set")
        if self.config.grpc is not None:
            from otelml_collector.receivers.otlp.grpc_server import GrpcServer

            self._grpc = GrpcServer(
                self, self.config.grpc, self._authenticator(self.config.grpc.auth, "grpc")
            )
            self.grpc_port = self._grpc.start()
        if self.config.http is not None:
            from otelml_collector.receivers.otlp.http_server import HttpServer

            self._http = HttpServer(
                self, self.config.http, self._authenticator(self.config.http.auth, "http")
            )
            self.http_port = self._http.start()

    def _authenticator(self, auth: AuthConfig | None, proto: str) -> ServerAuthenticator | None:
        if auth is None:
            return None
        extension = self.ctx.extensions.get(auth.authenticator)
        if not isinstance(extension, ServerAuthenticator):
            raise RuntimeError(
                f"receivers.{self.ctx.name}.protocols.{proto}.auth.authenticator: {auth.authenticator!r} "
                "is not an enabled authenticator extension (list it in service.extensions)"
            )
        return extension

    def listening(self) -> dict[str, int | None]:
        return {"grpc_port": self.grpc_port, "http_port": self.http_port}

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop accepting; in-flight requests get up to `grace` seconds. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._grpc is not None:
            self._grpc.stop(grace)
        if self._http is not None:
            self._http.stop()

    # -- called by the protocol servers -----------------------------------------------------------
    def accept(
        self, signal: Signal, raw: bytes, decoded: Decoded, json_body: bool, transport: str = ""
    ) -> float | None:
        """Hand a decoded request to the pipeline; None when queued, else retry-after seconds."""
        where = {"component": self.ctx.name, "transport": transport}
        if decoded.rejected:
            self.counters.add(signal, "refused", decoded.rejected, "invalid_item", **where)
            self.warn_once(
                f"invalid:{signal}",
                "rejected %d %s: %s (the rest was accepted)",
                decoded.rejected,
                signal,
                decoded.reason,
            )
        if decoded.items == 0:
            return None
        request = TelemetryRequest(
            signal=signal,
            raw=None if (json_body or decoded.rejected) else raw,
            message=decoded.message,
            modified=bool(json_body or decoded.rejected),
            items=decoded.items,
            cells=decoded.cells,
        )
        assert self.consumer is not None
        retry_after = self.consumer(request)
        if retry_after is None:
            self.counters.add(signal, "received", decoded.items, **where)
        else:
            self.counters.add(signal, "refused", decoded.items, "queue_full", **where)
            self.warn_once(
                f"full:{signal}",
                "queue full (processors behind, or downstream slow or down): refusing %s with a retry "
                "hint of %.1fs (counted in otelml_collector.*.refused{reason=queue_full})",
                signal,
                retry_after,
            )
        return retry_after

    def may_wait(self, signal: Signal) -> bool:
        """Whether `accept` may wait on I/O (a durable sending queue); True when the consumer does
        not say."""
        probe = getattr(self.consumer, "may_wait", None)
        return True if probe is None else bool(probe(signal))

    def refused(self, signal: Signal, reason: str, detail: str, transport: str = "") -> None:
        """Count a request refused before decoding (bad body, too large...); log once per reason."""
        self.counters.add(signal, "refused_requests", 1, reason, component=self.ctx.name, transport=transport)
        self.warn_once(f"{reason}:{signal}", "refused a %s request (%s): %s", signal, reason, detail)

    def warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg + " [logged once]", *args)


logging.getLogger("otelml_collector.receiver").addHandler(logging.NullHandler())
