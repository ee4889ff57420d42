"""OTLP/gRPC server on grpc.aio with generic handlers that receive the request as raw bytes, so each
request is decoded exactly once by `otlp.decode` and the original bytes can be forwarded.

A call costs no thread until its message has arrived: each method is served as stream-unary (the
wire format of a unary call is the same), so the handler runs on the event loop as soon as the
headers are in. It checks the token first (UNAUTHENTICATED before the message is read), then waits
for the message under `read_timeout` (DEADLINE_EXCEEDED after it) as one of at most
`max_concurrent_readers` waiting calls (beyond that, a call whose message is not there within
`OVERFLOW_GRACE` gets RESOURCE_EXHAUSTED); only then does the
call take one of `max_concurrent_requests` slots (RESOURCE_EXHAUSTED with RetryInfo when all are
taken), in which it is decoded and handed to the pipeline on one of `workers` threads. A client
that sends headers only therefore never holds a decode slot, and HTTP/2 caps each connection at
`max_concurrent_streams` calls.

The common case skips the worker thread, whose round trip costs ~0.2 ms of CPU a call (as much as
the C check of a 200 KB request): a traces body of at most `INLINE_MAX_BYTES` is checked on the
event loop by the C walk (GIL released, bounded by the size: ~1 ms a MiB) and, when it vouches for
every span and the pipeline only queues (no durable sending queue to wait for), handed to the
pipeline there too. Anything else (protobuf decoding, partial success, metrics and logs, a durable
queue) runs on a worker, so the loop never runs a decode whose cost is not bounded by C speed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from otelml_collector import otlp
from otelml_collector.httpapi import EventLoopThread, split_hostport
from otelml_collector.otlp import Signal
from otelml_collector.security import grpc_server_credentials

if TYPE_CHECKING:
    from otelml_collector.component import ServerAuthenticator
    from otelml_collector.receivers.otlp.acceptor import Acceptor
    from otelml_collector.receivers.otlp.config import GrpcConfig

_MIB = 1024 * 1024
_KEY = "receivers.otlp.protocols.grpc"
SLOTS_RETRY = 0.2  # retry hint when every decode slot is taken (they free up in milliseconds)
OVERFLOW_GRACE = 0.25  # seconds a call beyond max_concurrent_readers may take to deliver its message
INLINE_MAX_BYTES = 1 << 20  # traces bodies up to this size are C-checked on the event loop


class _Refusal(Exception):
    """What the worker thread decided instead of a response: status code, message, retry hint."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class GrpcServer(grpc.GenericRpcHandler):
    def __init__(
        self, receiver: Acceptor, config: GrpcConfig, authenticator: ServerAuthenticator | None = None
    ) -> None:
        self.receiver = receiver
        self.config = config
        self.authenticator = authenticator
        self._loop: EventLoopThread | None = None
        self._server: grpc.aio.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._readers = 0  # calls waiting for their message (only touched on the event loop)
        self._handlers = {
            method: grpc.stream_unary_rpc_method_handler(self._make_export(signal))
            for method, signal in otlp.GRPC_METHODS.items()
        }
        self._options = [
            ("grpc.max_receive_message_length", int(config.max_recv_msg_size_mib * _MIB)),
            ("grpc.max_concurrent_streams", config.max_concurrent_streams),
            ("grpc.so_reuseport", 0),  # a second sidecar on the same port must fail, not share it
        ]

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self._handlers.get(handler_call_details.method)

    def start(self) -> int:
        host, port = split_hostport(self.config.endpoint, f"{_KEY}.endpoint")
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        credentials = grpc_server_credentials(self.config.tls, f"{_KEY}.tls") if self.config.tls else None
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="otelml-grpc")
        self._loop = EventLoopThread("otelml-otlp-grpc")
        try:
            bound, cause = self._loop.run(self._start(address, credentials))
            if not bound and port != 0:
                raise OSError(
                    f"{_KEY}.endpoint {self.config.endpoint}: cannot listen "
                    f"(port in use or address not available){f': {cause}' if cause else ''}"
                )
        except BaseException:
            self.stop(0)
            raise
        return int(bound)

    async def _start(self, address: str, credentials: Any) -> tuple[int, Exception | None]:
        self._slots = asyncio.Semaphore(self.config.max_concurrent_requests)
        server = grpc.aio.server(handlers=[self], options=self._options)
        self._server = server
        try:
            if credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            return 0, exc
        await server.start()
        return bound, None

    def stop(self, grace: float) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            try:
                self._loop.run(self._server.stop(grace), timeout=grace + 5)
            finally:
                self._server = None
        self._loop.stop()
        self._loop = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _make_export(self, signal: Signal):  # type: ignore[no-untyped-def]
        async def export(requests: Any, context: grpc.aio.ServicerContext) -> bytes:
            return await self._export(signal, context)

        return export

    async def _export(self, signal: Signal, context: grpc.aio.ServicerContext) -> bytes:
        receiver = self.receiver
        if self.authenticator is not None and not self.authenticator.authenticate(
            {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        ):  # refused before the message is read
            receiver.refused(signal, "unauthenticated", "no valid authorization metadata", "grpc")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "unauthenticated: send authorization: Bearer <token>"
            )
        raw = await self._read(signal, context)
        if self._slots.locked():
            slots = self.config.max_concurrent_requests
            detail = f"all {slots} request slots are busy ({_KEY}.max_concurrent_requests)"
            receiver.refused(signal, "too_many_requests", detail, "grpc")
            await _abort_retryable(context, SLOTS_RETRY, f"{detail}; retry in {SLOTS_RETRY:g}s")
        async with self._slots:
            loop = asyncio.get_running_loop()
            try:
                if len(raw) <= INLINE_MAX_BYTES and not receiver.may_wait(signal):
                    answer = self._accept_checked(signal, raw)
                    if answer is not None:
                        return answer
                return await loop.run_in_executor(self._pool, self._accept, signal, raw)
            except _Refusal as refusal:
                if refusal.retry_after is not None:
                    await _abort_retryable(context, refusal.retry_after, refusal.message)
                await context.abort(refusal.code, refusal.message)
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    async def _read(self, signal: Signal, context: grpc.aio.ServicerContext) -> bytes:
        """The call's message, waited for as one of `max_concurrent_readers` under `read_timeout`;
        beyond that many, a call whose message does not arrive within `OVERFLOW_GRACE` is refused."""
        limit = self.config.max_concurrent_readers
        overflow = self._readers >= limit
        self._readers += 0 if overflow else 1
        try:
            async with asyncio.timeout(OVERFLOW_GRACE if overflow else self.config.read_timeout):
                raw = await context.read()
        except TimeoutError:
            if overflow:
                detail = f"too many calls waiting for their message ({_KEY}.max_concurrent_readers={limit})"
                self.receiver.refused(signal, "too_many_readers", detail, "grpc")
                await _abort_retryable(context, 1.0, f"{detail}; retry in 1s")
            detail = f"message not received within {self.config.read_timeout:g}s ({_KEY}.read_timeout)"
            self.receiver.refused(signal, "read_timeout", detail, "grpc")
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, detail)
        finally:
            self._readers -= 0 if overflow else 1
        if raw is grpc.aio.EOF:
            self.receiver.refused(signal, "invalid_body", "the call sent no request message", "grpc")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call sent no request message")
        return bytes(raw)

    def _accept(self, signal: Signal, raw: bytes) -> bytes:
        """Decode and hand to the pipeline (a worker thread: may wait for a durable queue)."""
        return self._hand_over(signal, raw, self._decode(otlp.decode, signal, raw))

    def _accept_checked(self, signal: Signal, raw: bytes) -> bytes | None:
        """`_accept` when the C check alone vouches for the request (on the event loop), else None."""
        decoded = self._decode(otlp.decode_checked, signal, raw)
        return None if decoded is None else self._hand_over(signal, raw, decoded)

    def _decode(self, decode: Any, signal: Signal, raw: bytes) -> Any:
        try:
            return decode(signal, raw, max_cells=self.config.max_cells_per_request)
        except otlp.RequestTooManyCells as exc:
            detail = f"{exc} ({_KEY}.max_cells_per_request)"
            self.receiver.refused(signal, "too_many_cells", detail, "grpc")
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, detail) from None
        except otlp.InvalidRequest as exc:
            self.receiver.refused(signal, "invalid_body", str(exc), "grpc")
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

    def _hand_over(self, signal: Signal, raw: bytes, decoded: otlp.Decoded) -> bytes:
        retry_after = self.receiver.accept(signal, raw, decoded, json_body=False, transport="grpc")
        if retry_after is not None:
            raise _Refusal(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"otelml sidecar queue is full; retry in {retry_after:.1f}s",
                retry_after,
            )
        return otlp.response(signal, decoded.rejected, decoded.reason).SerializeToString()


async def _abort_retryable(context: grpc.aio.ServicerContext, seconds: float, message: str) -> None:
    """RESOURCE_EXHAUSTED with google.rpc.RetryInfo, which OTLP clients honour as the retry delay."""
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))
    )
    detail = AnyPb()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    await context.abort(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
    )
