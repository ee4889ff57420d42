"""Receiver `otlp`: OTLP/gRPC (grpcio) and OTLP/HTTP (aiohttp) in front of the pipeline.

Rule of this room: the protocol servers (`grpc_server`, `http_server`) know the wire package and the
`Acceptor` protocol, never the receiver component; the receiver starts them and is their acceptor.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.receivers.otlp.config import GrpcConfig, HttpConfig, OtlpReceiverConfig
from otelml_collector.receivers.otlp.factory import OtlpReceiverFactory
from otelml_collector.receivers.otlp.receiver import Consumer, OtlpReceiver

__all__ = [
    "Consumer",
    "GrpcConfig",
    "HttpConfig",
    "OtlpReceiver",
    "OtlpReceiverConfig",
    "OtlpReceiverFactory",
]

registry.register(OtlpReceiverFactory())
