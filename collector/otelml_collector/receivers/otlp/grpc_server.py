"""OTLP/gRPC server: generic handlers on grpcio that receive the request as raw bytes, so each
request is decoded exactly once by `otlp.decode` and the original bytes can be forwarded."""

from __future__ import annotations

from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from otelml_collector import otlp
from otelml_collector.httpapi import split_hostport
from otelml_collector.otlp import Signal
from otelml_collector.security import grpc_server_credentials

if TYPE_CHECKING:
    from otelml_collector.component import ServerAuthenticator
    from otelml_collector.receivers.otlp.acceptor import Acceptor
    from otelml_collector.receivers.otlp.config import GrpcConfig

_MIB = 1024 * 1024


class GrpcServer(grpc.GenericRpcHandler):
    def __init__(
        self, receiver: Acceptor, config: GrpcConfig, authenticator: ServerAuthenticator | None = None
    ) -> None:
        self.receiver = receiver
        self.config = config
        self.authenticator = authenticator
        self._server: grpc.Server | None = None
        limit = int(config.max_recv_msg_size_mib * _MIB)
        self._handlers = {
            method: grpc.unary_unary_rpc_method_handler(self._make_export(signal))
            for method, signal in otlp.GRPC_METHODS.items()
        }
        self._options = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.so_reuseport", 0),  # a second sidecar on the same port must fail, not share it
        ]

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self._handlers.get(handler_call_details.method)

    def start(self) -> int:
        host, port = split_hostport(self.config.endpoint, "receivers.otlp.protocols.grpc.endpoint")
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="otelml-grpc"),
            handlers=[self],
            options=self._options,
            maximum_concurrent_rpcs=self.config.max_concurrent_requests,
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        tls = self.config.tls
        try:
            if tls is None:
                bound = server.add_insecure_port(address)
            else:
                key = "receivers.otlp.protocols.grpc.tls"
                bound = server.add_secure_port(address, grpc_server_credentials(tls, key))
        except RuntimeError as exc:
            bound = 0
            cause: Exception | None = exc
        else:
            cause = None
        if not bound and port != 0:
            raise OSError(
                f"receivers.otlp.protocols.grpc.endpoint {self.config.endpoint}: cannot listen "
                f"(port in use or address not available){f': {cause}' if cause else ''}"
            )
        server.start()
        self._server = server
        return bound

    def stop(self, grace: float) -> None:
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
            self._server = None

    def _make_export(self, signal: Signal):  # type: ignore[no-untyped-def]
        receiver = self.receiver
        authenticator = self.authenticator

        def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
            if authenticator is not None and not authenticator.authenticate(
                {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
            ):
                receiver.refused(signal, "unauthenticated", "no valid authorization metadata")
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "unauthenticated: send authorization: Bearer <token>"
                )
            try:
                decoded = otlp.decode(signal, raw)
            except otlp.InvalidRequest as exc:
                receiver.refused(signal, "invalid_body", str(exc))
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            retry_after = receiver.accept(signal, raw, decoded, json_body=False)
            if retry_after is not None:
                _abort_retryable(
                    context, retry_after, f"otelml sidecar queue is full; retry in {retry_after:.1f}s"
                )
            return otlp.response(signal, decoded.rejected, decoded.reason).SerializeToString()

        return export


def _abort_retryable(context: grpc.ServicerContext, seconds: float, message: str) -> None:
    """RESOURCE_EXHAUSTED with google.rpc.RetryInfo, which OTLP clients honour as the retry delay."""
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))
    )
    detail = AnyPb()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
