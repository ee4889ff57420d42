"""Configuration of the `otlp` receiver (`receivers.otlp.protocols.{grpc,http}`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration
from otelml_collector.httpapi import split_hostport
from otelml_collector.security import AuthConfig, ServerTlsConfig

__all__ = ["GrpcConfig", "HttpConfig", "OtlpReceiverConfig"]


@dataclass
class GrpcConfig:
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: float = 16.0  # after decompression
    max_concurrent_requests: int = 32  # messages decoded at once; more get RESOURCE_EXHAUSTED
    max_cells_per_request: int = 500_000  # attributes + array elements; more: INVALID_ARGUMENT
    max_concurrent_readers: int = 256  # calls waiting for their message; more get RESOURCE_EXHAUSTED
    max_concurrent_streams: int = 100  # HTTP/2 streams per connection
    read_timeout: Duration = 10.0  # a message not received within this: DEADLINE_EXCEEDED
    workers: int = 4  # decoding threads
    tls: ServerTlsConfig | None = None  # cert_file, key_file[, client_ca_file for mTLS]
    auth: AuthConfig | None = None  # authenticator: an extension in service.extensions


@dataclass
class HttpConfig:
    endpoint: str = "127.0.0.1:4318"
    max_request_body_size_mib: float = 16.0  # applies to the body as sent and after decompression
    max_concurrent_requests: int = 32  # bodies decoded at once; more wait (bounds memory)
    max_cells_per_request: int = 500_000  # attributes + array elements; more get 400
    max_concurrent_readers: int = 256  # bodies being received at once; more get 503 + Retry-After
    read_timeout: Duration = 10.0  # a body not received within this gets 408
    tls: ServerTlsConfig | None = None
    auth: AuthConfig | None = None


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
            bounds = ("max_concurrent_requests", "max_concurrent_readers", "max_concurrent_streams")
            bounds += ("max_cells_per_request",)
            bounds += ("workers",)
            for name in bounds:
                if getattr(self.grpc, name) < 1:
                    raise ValueError(f"protocols.grpc.{name}: must be >= 1")
            if self.grpc.read_timeout <= 0:
                raise ValueError("protocols.grpc.read_timeout: must be > 0")
        if self.http is not None:
            split_hostport(self.http.endpoint, "protocols.http.endpoint")
            if self.http.max_request_body_size_mib <= 0:
                raise ValueError("protocols.http.max_request_body_size_mib: must be > 0")
            if self.http.max_concurrent_requests < 1 or self.http.max_concurrent_readers < 1:
                raise ValueError(
                    "protocols.http.max_concurrent_requests and max_concurrent_readers: must be >= 1"
                )
            if self.http.max_cells_per_request < 1:
                raise ValueError("protocols.http.max_cells_per_request: must be >= 1")
            if self.http.read_timeout <= 0:
                raise ValueError("protocols.http.read_timeout: must be > 0")
