"""Configuration of the `otlp` exporter (`exporters.otlp`, keys as in the Collector's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration
from otelml_collector.downstream import (
    PROTOCOLS,
    Target,
    env_compression,
    env_timeout,
    resolve_target,
    tls_sources,
)
from otelml_collector.otlp import Signal
from otelml_collector.security import check_client_files

__all__ = ["OtlpExporterConfig", "QueueConfig", "RetryConfig", "TlsConfig"]


@dataclass
class RetryConfig:
    enabled: bool = True
    initial_interval: Duration = 0.5
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = 300.0  # 0 = retry until shutdown
    multiplier: float = 2.0


@dataclass
class QueueConfig:
    queue_size: int = 1000  # requests
    max_size_mib: float = 256.0
    num_consumers: int = 2
    storage: str | None = None  # a file_storage extension: the queue lives on disk


@dataclass
class TlsConfig:
    insecure: bool | None = None
    ca_file: str | None = None  # else OTEL_EXPORTER_OTLP_[<SIGNAL>_]CERTIFICATE, else the system CAs
    cert_file: str | None = None  # client certificate for mTLS (else ..._CLIENT_CERTIFICATE)
    key_file: str | None = None  # its key (else ..._CLIENT_KEY)


@dataclass
class OtlpExporterConfig(ComponentConfig):
    endpoint: str | None = None
    protocol: str | None = None  # grpc | http/protobuf; default from OTEL_EXPORTER_OTLP_PROTOCOL, else grpc
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    compression: str | None = None  # none | gzip; else OTEL_EXPORTER_OTLP_[<SIGNAL>_]COMPRESSION, else none
    timeout: Duration | None = None  # else OTEL_EXPORTER_OTLP_[<SIGNAL>_]TIMEOUT (ms), else 10s
    tls: TlsConfig = field(default_factory=TlsConfig)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)

    def validate(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.compression not in (None, "none", "gzip"):
            raise ValueError(f"compression: must be none or gzip, got {self.compression!r}")
        for key in ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint"):
            value = getattr(self, key)
            if value is not None and (not value.strip() or " " in value.strip()):
                raise ValueError(f"{key}: expected host:port or a URL, got {value!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout: must be > 0")
        self._check_tls_and_environment()
        q, r = self.sending_queue, self.retry_on_failure
        if q.queue_size < 1 or q.num_consumers < 1 or q.max_size_mib <= 0:
            raise ValueError("sending_queue: queue_size, num_consumers and max_size_mib must be > 0")
        if r.multiplier < 1:
            raise ValueError(f"retry_on_failure.multiplier: must be >= 1, got {r.multiplier}")
        if r.initial_interval > r.max_interval:
            raise ValueError("retry_on_failure.initial_interval: must not exceed max_interval")

    def _check_tls_and_environment(self) -> None:
        """Bad TLS files (from the config or the OTEL_EXPORTER_OTLP_* variables) and bad compression or
        timeout variables fail validation, naming the key or variable and the file."""
        raw = self._raw()
        for signal in Signal:
            sources = tls_sources(signal.value, raw)
            if ("cert_file" in sources) != ("key_file" in sources):
                have, missing = (
                    ("cert_file", "key_file") if "cert_file" in sources else ("key_file", "cert_file")
                )
                raise ValueError(
                    f"{sources[have][0]}: a client {have.replace('_file', '')} needs its {missing} too "
                    f"(tls.{missing} or the matching OTEL_EXPORTER_OTLP_* variable)"
                )
            check_client_files(dict(sources.values()))
            if self.compression is None:
                env_compression(signal.value)
            if self.timeout is None:
                env_timeout(signal.value)

    def _raw(self) -> dict[str, Any]:
        tls = {k: v for k, v in vars(self.tls).items() if v is not None}
        return {
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "traces_endpoint": self.traces_endpoint,
            "metrics_endpoint": self.metrics_endpoint,
            "logs_endpoint": self.logs_endpoint,
            "headers": self.headers,
            "tls": tls,
            "compression": self.compression,
            "timeout": self.timeout,
        }

    def targets(self, env: dict[str, str] | None = None) -> dict[Signal, Target]:
        raw = self._raw()
        return {s: resolve_target(s.value, raw, env) for s in Signal}
