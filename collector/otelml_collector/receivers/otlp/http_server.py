"""OTLP/HTTP server on aiohttp: POST /v1/traces, /v1/metrics, /v1/logs with protobuf or JSON bodies,
optionally gzip/deflate-compressed. Errors carry a google.rpc.Status body in the request's encoding.

A slow client costs one reader slot and nothing else: bodies are read under `read_timeout` (408
after it) by at most `max_concurrent_readers` connections at once (beyond that: 503 with
Retry-After at once, never a wait behind slow clients); only then does the request take one of the
`max_concurrent_requests` slots, in which it is decompressed, decoded and handed to the pipeline
on a worker thread, so the event loop never decodes and other clients never stall. Parsing JSON
costs far more than the body while it runs (a Python object per JSON object: ~250 bytes per `{`, plus
twice the text), so the estimated cost of the JSON bodies parsed at once is at most
JSON_PARSE_BUDGET (`JsonBudget`): the largest acceptable body is parsed alone, small ones side by
side, and 32 concurrent 16 MiB JSON exports cost one parse at a time, not 32 (protobuf decoding is
lazy and costs next to nothing here)."""

from __future__ import annotations

import asyncio
import math
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from aiohttp import web
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from otelml_collector import otlp
from otelml_collector.httpapi import EventLoopThread, split_hostport, unauthorized
from otelml_collector.otlp import Signal
from otelml_collector.security import server_ssl_context

if TYPE_CHECKING:
    from otelml_collector.component import ServerAuthenticator
    from otelml_collector.receivers.otlp.acceptor import Acceptor
    from otelml_collector.receivers.otlp.config import HttpConfig

_MIB = 1024 * 1024
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
JSON_PARSE_BUDGET = 256 * _MIB


def json_parse_cost(body: bytes) -> int:
    """Estimated peak bytes of parsing an OTLP/JSON body (measured: 240-320 bytes per `{` + 2x the text)."""
    return 2 * len(body) + 256 * body.count(b"{")


class BodyTooLarge(Exception):
    pass


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate gzip/deflate, stopping as soon as the output would exceed `limit` bytes (gzip bombs)."""
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise otlp.InvalidRequest(f"body is not valid {encoding} data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    if not inflater.eof:
        raise otlp.InvalidRequest(f"{encoding} body is truncated")
    return out


class JsonBudget:
    """Estimated cost of the JSON bodies parsed at once, at most `capacity`; a larger one runs alone."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def take(self, size: int) -> Iterator[None]:
        size = min(size, self.capacity)
        with self._cond:
            self._cond.wait_for(lambda: self.used + size <= self.capacity)
            self.used += size
        try:
            yield
        finally:
            with self._cond:
                self.used -= size
                self._cond.notify_all()


class HttpServer:
    def __init__(
        self, receiver: Acceptor, config: HttpConfig, authenticator: ServerAuthenticator | None = None
    ) -> None:
        self.receiver = receiver
        self.config = config
        self.authenticator = authenticator
        self.limit = int(config.max_request_body_size_mib * _MIB)
        self._loop: EventLoopThread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> int:
        host, port = split_hostport(self.config.endpoint, "receivers.otlp.protocols.http.endpoint")
        self._loop = EventLoopThread("otelml-otlp-http")
        try:
            return int(self._loop.run(self._start(host, port)))
        except OSError as exc:
            self._loop.run(self._cleanup(), timeout=10)
            self._loop.stop()
            self._loop = None
            raise OSError(
                f"receivers.otlp.protocols.http.endpoint {self.config.endpoint}: "
                f"cannot listen: {exc.strerror or exc}"
            ) from exc

    async def _start(self, host: str, port: int) -> int:
        self._slots = asyncio.Semaphore(self.config.max_concurrent_requests)
        self._readers = asyncio.Semaphore(self.config.max_concurrent_readers)
        self._pool = ThreadPoolExecutor(self.config.max_concurrent_requests, "otelml-otlp-decode")
        self._json_budget = JsonBudget(JSON_PARSE_BUDGET)
        app = web.Application(client_max_size=self.limit)
        for path in otlp.HTTP_PATHS:
            app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
        await self._runner.setup()
        tls = self.config.tls
        ssl_context = server_ssl_context(tls, "receivers.otlp.protocols.http.tls") if tls else None
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            try:
                self._loop.run(self._runner.cleanup(), timeout=10)
            finally:
                self._runner = None
        self._loop.stop()
        self._loop = None
        self._pool.shutdown(wait=False)

    async def _handle(self, request: web.Request) -> web.Response:
        signal = otlp.HTTP_PATHS[request.path]
        if self.authenticator is not None and not self.authenticator.authenticate(
            {k.lower(): v for k, v in request.headers.items()}
        ):  # refused before the body is read
            self.receiver.refused(signal, "unauthenticated", "no valid Authorization header")
            return unauthorized()
        ctype = request.content_type
        json_body = ctype == JSON
        if ctype not in (PROTOBUF, JSON, "application/protobuf"):  # the last: a common alias
            return self._error(
                signal,
                415,
                code_pb2.INVALID_ARGUMENT,
                "unsupported_media_type",
                False,
                f"Content-Type must be {PROTOBUF} or {JSON}, got {ctype!r}",
            )
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "deflate"):
            return self._error(
                signal,
                415,
                code_pb2.INVALID_ARGUMENT,
                "unsupported_encoding",
                json_body,
                f"Content-Encoding must be gzip, deflate or identity, got {encoding!r}",
            )
        if self._readers.locked():
            resp = self._error(
                signal,
                503,
                code_pb2.UNAVAILABLE,
                "too_many_readers",
                json_body,
                "too many bodies being received at once "
                "(receivers.otlp.protocols.http.max_concurrent_readers); retry in 1s",
            )
            resp.headers["Retry-After"] = "1"
            return resp
        try:
            async with self._readers, asyncio.timeout(self.config.read_timeout):
                body = await request.read()
        except TimeoutError:
            resp = self._error(
                signal,
                408,
                code_pb2.DEADLINE_EXCEEDED,
                "read_timeout",
                json_body,
                f"body not received within {self.config.read_timeout:g}s "
                "(receivers.otlp.protocols.http.read_timeout)",
            )
            resp.force_close()
            return resp
        except web.HTTPRequestEntityTooLarge as exc:
            return self._too_large(signal, json_body, exc)
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._accept, body, signal, json_body, encoding)

    def _too_large(self, signal: Signal, json_body: bool, exc: Exception) -> web.Response:
        sent = isinstance(exc, web.HTTPRequestEntityTooLarge)  # as sent; BodyTooLarge: decompressed
        detail = f"body exceeds the limit of {self.limit} bytes" if sent else str(exc)
        return self._error(
            signal,
            413,
            code_pb2.RESOURCE_EXHAUSTED,
            "too_large",
            json_body,
            f"{detail} (receivers.otlp.protocols.http.max_request_body_size_mib)",
        )

    def _accept(self, body: bytes, signal: Signal, json_body: bool, encoding: str) -> web.Response:
        """Decompress, decode and hand to the pipeline (a worker thread: may wait for a durable queue)."""
        try:
            if encoding != "identity":
                body = decompress(body, encoding, self.limit)
            with self._json_budget.take(json_parse_cost(body)) if json_body else nullcontext():
                decoded = otlp.decode(
                    signal, body, json_body=json_body, max_cells=self.config.max_cells_per_request
                )
        except BodyTooLarge as exc:
            return self._too_large(signal, json_body, exc)
        except otlp.RequestTooManyCells as exc:
            detail = f"{exc} (receivers.otlp.protocols.http.max_cells_per_request)"
            return self._error(signal, 400, code_pb2.INVALID_ARGUMENT, "too_many_cells", json_body, detail)
        except otlp.InvalidRequest as exc:
            return self._error(signal, 400, code_pb2.INVALID_ARGUMENT, "invalid_body", json_body, str(exc))
        retry_after = self.receiver.accept(signal, body, decoded, json_body, "http")
        if retry_after is not None:
            resp = self._error(
                signal,
                503,
                code_pb2.UNAVAILABLE,
                "",
                json_body,
                f"otelml sidecar queue is full; retry in {retry_after:.1f}s",
            )
            resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
            return resp
        message = otlp.response(signal, decoded.rejected, decoded.reason)
        return self._encode(message, 200, json_body)

    def _error(
        self, signal: Signal, http_status: int, code: int, reason: str, json_body: bool, detail: str
    ) -> web.Response:
        if reason:
            self.receiver.refused(signal, reason, detail, "http")
        return self._encode(status_pb2.Status(code=code, message=detail), http_status, json_body)

    @staticmethod
    def _encode(message: Message, http_status: int, json_body: bool) -> web.Response:
        if json_body:
            return web.Response(
                body=otlp.to_json(message),
                status=http_status,
                content_type=JSON,
            )
        return web.Response(
            body=message.SerializeToString(),
            status=http_status,
            content_type=PROTOBUF,
        )
