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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from otelml_collector import registry
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping
from otelml_collector.httpapi import split_hostport
from otelml_collector.otlp import Decoded
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.telemetry import Counters

__all__ = [
    "Consumer",
    "GrpcConfig",
    "HttpConfig",
    "OtlpReceiver",
    "OtlpReceiverConfig",
    "OtlpReceiverFactory",
]

_MIB = 1024 * 1024

Consumer = Callable[[TelemetryRequest], "float | None"]
"""Takes an accepted request; returns None when queued, or seconds the client should wait and retry."""


@dataclass
class GrpcConfig:
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: float = 16.0  # after decompression
    max_concurrent_requests: int = 32  # more at once get RESOURCE_EXHAUSTED
    workers: int = 4


@dataclass
class HttpConfig:
    endpoint: str = "127.0.0.1:4318"
    max_request_body_size_mib: float = 16.0  # applies to the body as sent and after decompression
    max_concurrent_requests: int = 32  # bodies read and decoded at once; more wait (bounds memory)


@dataclass
class OtlpReceiverConfig(ComponentConfig):
    grpc: GrpcConfig | None = field(default_factory=GrpcConfig)
    http: HttpConfig | None = field(default_factory=HttpConfig)

    def validate(self) -> None:
        if self.grpc is None and self.http is None:
            raise ValueError("protocols: enable at least one of grpc, http")
        if self.grpc is not None:
            split_hostport(self.grpc.endpoint, "protocols.grpc.endpoint")
            if self.grpc.max_recv_msg_size_mib <= 0:
                raise ValueError("protocols.grpc.max_recv_msg_size_mib: must be > 0")
            if self.grpc.max_concurrent_requests < 1 or self.grpc.workers < 1:
                raise ValueError("protocols.grpc.max_concurrent_requests and workers: must be >= 1")
        if self.http is not None:
            split_hostport(self.http.endpoint, "protocols.http.endpoint")
            if self.http.max_request_body_size_mib <= 0:
                raise ValueError("protocols.http.max_request_body_size_mib: must be > 0")
            if self.http.max_concurrent_requests < 1:
                raise ValueError("protocols.http.max_concurrent_requests: must be >= 1")


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
            from otelml_collector._grpc_server import GrpcServer

            self._grpc = GrpcServer(self, self.config.grpc)
            self.grpc_port = self._grpc.start()
        if self.config.http is not None:
            from otelml_collector._http_server import HttpServer

            self._http = HttpServer(self, self.config.http)
            self.http_port = self._http.start()

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
    def accept(self, signal: Signal, raw: bytes, decoded: Decoded, json_body: bool) -> float | None:
        """Hand a decoded request to the pipeline; None when queued, else retry-after seconds."""
        if decoded.rejected:
            self.counters.add(signal, "refused", decoded.rejected, "invalid_item")
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
        )
        assert self.consumer is not None
        retry_after = self.consumer(request)
        if retry_after is None:
            self.counters.add(signal, "received", decoded.items)
        else:
            self.counters.add(signal, "refused", decoded.items, "queue_full")
            self.warn_once(
                f"full:{signal}",
                "queue full (processors behind, or downstream slow or down): refusing %s with a retry "
                "hint of %.1fs (counted in otelml_collector.*.refused{reason=queue_full})",
                signal,
                retry_after,
            )
        return retry_after

    def refused(self, signal: Signal, reason: str, detail: str) -> None:
        """Count a request refused before decoding (bad body, too large...); log once per reason."""
        self.counters.add(signal, "refused_requests", 1, reason)
        self.warn_once(f"{reason}:{signal}", "refused a %s request (%s): %s", signal, reason, detail)

    def warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg + " [logged once]", *args)


class OtlpReceiverFactory:
    type: ClassVar[str] = "otlp"
    kind: ClassVar[str] = "receiver"

    def default_config(self) -> OtlpReceiverConfig:
        return OtlpReceiverConfig()

    def config_from_dict(self, raw: dict[str, Any] | None) -> OtlpReceiverConfig:
        raw = dict(raw or {})
        protocols = raw.pop("protocols", None)
        if raw:
            raise ValueError(f"{next(iter(raw))}: unknown key (valid keys: protocols)")
        if protocols is None:
            return OtlpReceiverConfig()  # both protocols on their defaults
        if not isinstance(protocols, dict):
            raise ValueError(f"protocols: expected a mapping with grpc and/or http, got {protocols!r}")
        unknown = [k for k in protocols if k not in ("grpc", "http")]
        if unknown:
            raise ValueError(f"protocols.{unknown[0]}: unknown protocol (valid: grpc, http)")
        # As in the Collector, a protocol is enabled by its key being present (`grpc:` alone = defaults).
        grpc = from_mapping(GrpcConfig, protocols["grpc"], "protocols.grpc.") if "grpc" in protocols else None
        http = from_mapping(HttpConfig, protocols["http"], "protocols.http.") if "http" in protocols else None
        return OtlpReceiverConfig(grpc=grpc, http=http)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> OtlpReceiver:
        assert isinstance(config, OtlpReceiverConfig)
        return OtlpReceiver(config, ctx)


registry.register(OtlpReceiverFactory())
logging.getLogger("otelml_collector.receiver").addHandler(logging.NullHandler())
