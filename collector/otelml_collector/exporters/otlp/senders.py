"""One OTLP export call per signal over gRPC or HTTP, sending the serialized request as bytes and
classifying failures as retryable (with the server's retry hint) or permanent, per the OTLP spec."""

from __future__ import annotations

import email.utils
import gzip
import time
from dataclasses import dataclass

import grpc
import requests
from google.rpc import error_details_pb2, status_pb2

from otelml_collector import otlp
from otelml_collector.downstream import Target
from otelml_collector.otlp import Signal
from otelml_collector.security import grpc_client_credentials

__all__ = ["ExportError", "GrpcSender", "HttpSender", "SendResult", "make_sender"]

# OTLP/gRPC retryable codes (RESOURCE_EXHAUSTED only matters with RetryInfo, but retrying is safe).
_RETRYABLE_GRPC = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_RETRYABLE_HTTP = {429, 502, 503, 504}


class ExportError(Exception):
    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class SendResult:
    rejected: int = 0  # items the downstream refused in a partial success
    message: str = ""


def _partial(signal: Signal, body: bytes) -> SendResult:
    if not body:
        return SendResult()
    try:
        resp = otlp.RESPONSE_TYPES[signal].FromString(body)
    except Exception:
        return SendResult()
    if not resp.HasField("partial_success"):
        return SendResult()
    ps = resp.partial_success
    rejected = (
        getattr(ps, "rejected_spans", 0)
        or getattr(ps, "rejected_data_points", 0)
        or getattr(ps, "rejected_log_records", 0)
    )
    return SendResult(int(rejected), ps.error_message)


class GrpcSender:
    def __init__(self, target: Target, timeout: float, compression: str, reconnect_cap: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self.metadata = tuple((k.lower(), v) for k, v in target.headers.items())
        self.compression = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        options = [
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.enable_retries", 0),  # our retry loop decides; the channel must not add its own
            # After an outage the channel must reconnect on our schedule, not grpc's (up to 120 s).
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", max(1000, int(reconnect_cap * 1000))),
        ]
        if target.insecure:
            self.channel = grpc.insecure_channel(target.authority, options=options)
        else:
            self.channel = grpc.secure_channel(
                target.authority,
                grpc_client_credentials(target.ca_file, target.cert_file, target.key_file),
                options=options,
            )
        self.call = self.channel.unary_unary(otlp.GRPC_PATHS[Signal(target.signal)])

    def send(self, payload: bytes) -> SendResult:
        try:
            body = self.call(
                payload, timeout=self.timeout, metadata=self.metadata, compression=self.compression
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            retry_after = _retry_info(exc)
            if not self.target.insecure and "handshake" in str(details).lower():
                details = (
                    f"{details} (TLS is on: for a plaintext downstream set tls.insecure: true or use http://)"
                )
            raise ExportError(
                f"{self.target.authority}: gRPC {code.name}: {details}",
                code in _RETRYABLE_GRPC,
                retry_after,
            ) from None
        return _partial(Signal(self.target.signal), body)

    def close(self) -> None:
        self.channel.close()


def _retry_info(exc: grpc.RpcError) -> float | None:
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class HttpSender:
    def __init__(self, target: Target, timeout: float, compression: str) -> None:
        self.target = target
        self.timeout = timeout
        self.gzip = compression == "gzip"
        self.session = requests.Session()
        self.session.headers.update(target.headers)
        self.session.headers["Content-Type"] = "application/x-protobuf"
        # Per request: a session-level `verify` loses to $REQUESTS_CA_BUNDLE (psf/requests#3829).
        self.verify: str | bool = target.ca_file or True
        if target.cert_file and target.key_file:
            self.session.cert = (target.cert_file, target.key_file)
        if self.gzip:
            self.session.headers["Content-Encoding"] = "gzip"

    def send(self, payload: bytes) -> SendResult:
        data = gzip.compress(payload, compresslevel=1) if self.gzip else payload
        try:
            resp = self.session.post(
                self.target.endpoint, data=data, timeout=self.timeout, verify=self.verify
            )
        except requests.RequestException as exc:
            raise ExportError(f"{self.target.endpoint}: {type(exc).__name__}: {exc}", True) from None
        if 200 <= resp.status_code < 300:
            return _partial(Signal(self.target.signal), resp.content)
        detail = resp.text[:200].strip()
        raise ExportError(
            f"{self.target.endpoint}: HTTP {resp.status_code}{': ' + detail if detail else ''}",
            resp.status_code in _RETRYABLE_HTTP,
            _retry_after(resp.headers.get("Retry-After")),
        )

    def close(self) -> None:
        self.session.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def make_sender(
    target: Target, timeout: float | None = None, compression: str | None = None, reconnect_cap: float = 5.0
) -> GrpcSender | HttpSender:
    """A sender for `target`; `timeout` and `compression` default to the target's (config, then the
    OTEL_EXPORTER_OTLP_* variables)."""
    timeout = target.timeout if timeout is None else timeout
    compression = target.compression if compression is None else compression
    if target.protocol == "grpc":
        return GrpcSender(target, timeout, compression, reconnect_cap)
    return HttpSender(target, timeout, compression)
