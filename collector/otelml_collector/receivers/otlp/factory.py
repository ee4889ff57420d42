"""Factory of the `otlp` receiver."""

from __future__ import annotations

from typing import Any, ClassVar

from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping
from otelml_collector.receivers.otlp.config import GrpcConfig, HttpConfig, OtlpReceiverConfig
from otelml_collector.receivers.otlp.receiver import OtlpReceiver

__all__ = ["OtlpReceiverFactory"]


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
