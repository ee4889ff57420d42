"""The sidecar's small read-only HTTP API (aiohttp), where components register GET routes.

Built-in routes: `/healthz` (200 once the pipeline runs, 503 while starting or stopping),
`/v1/status` (counters, queue depths, components) and `/metrics` (every metric, in the Prometheus
format the scraper's `Accept` header asks for: `otelml_collector.prometheus`).
A component adds its own in `start()` through `ctx.http_api`::

    ctx.http_api.add_get("/v1/drift", lambda query: {"models": ...})

A path may end in one `{name}` segment (`/v1/traces/{trace_id}`): the handler then finds that
segment of the requested path in the mapping under `name`.

With `service.http.tls` the server speaks HTTPS (mTLS with `client_ca_file`); with `service.http.auth`
every path, `/healthz` and `/metrics` included, answers 401 without valid credentials (a Prometheus
scrape config sends a token with `authorization: {credentials: ...}`).

A handler receives the query string as a mapping and returns something `json` can encode (or a
`str` for text routes); it runs in a worker thread, so it may take locks. Raise `ApiError(status,
message)` for a client error; any other exception becomes a logged 500. A handler registered with
`headers=True` also receives the request headers (`handler(query, headers)`); returning a `RawResponse`
sends its bytes and content type as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, NamedTuple

from aiohttp import web

from otelml_collector.security import ServerTlsConfig, server_ssl_context

if TYPE_CHECKING:
    from otelml_collector.component import ServerAuthenticator

__all__ = ["ApiError", "EventLoopThread", "Handler", "HttpApi", "RawResponse"]

_log = logging.getLogger("otelml_collector.httpapi")

Handler = Callable[[Mapping[str, str]], Any]


class RawResponse(NamedTuple):
    body: bytes
    content_type: str
    status: int = 200


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EventLoopThread:
    """An asyncio loop running in a daemon thread; aiohttp servers of the sidecar live on it."""

    def __init__(self, name: str = "otelml-http") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Any, timeout: float | None = 30.0) -> Any:
        """Run a coroutine on the loop and wait for its result."""
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def unauthorized() -> web.Response:
    """401 with the Bearer challenge (RFC 6750); says nothing about what was wrong."""
    return web.json_response(
        {"error": "unauthorized: send Authorization: Bearer <token>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="otelml"'},
    )


def split_hostport(endpoint: str, key: str) -> tuple[str, int]:
    """`127.0.0.1:8890` -> ("127.0.0.1", 8890); `[::1]:80` works too. ValueError names `key`."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{key}: expected host:port, got {endpoint!r}")
    if int(port) > 65535:
        raise ValueError(f"{key}: port must be 0-65535, got {port}")
    return host.strip("[]"), int(port)


class HttpApi:
    """GET-only JSON API; routes can be added before or after `start()`."""

    def __init__(
        self,
        endpoint: str = "127.0.0.1:8890",
        *,
        tls: ServerTlsConfig | None = None,
        authenticator: ServerAuthenticator | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.authenticator = authenticator
        self._routes: dict[str, tuple[Handler, str]] = {}
        self._with_headers: set[Handler] = set()
        self._prefixes: dict[str, tuple[str, Handler, str]] = {}  # "/v1/traces/" -> ("trace_id", ...)
        self._post: set[str] = set()  # routes that also answer POST (body ignored), e.g. for webhooks
        self._runner: web.AppRunner | None = None
        self._loop_thread: EventLoopThread | None = None
        self.port: int | None = None

    def add_get(
        self,
        path: str,
        handler: Handler,
        content_type: str = "application/json",
        headers: bool = False,
        post: bool = False,
    ) -> None:
        """`headers=True`: the handler also receives the request headers. `post=True`: a POST to the path
        is answered like the GET (its body is ignored), for callers that only POST (Flagger webhooks)."""
        if headers:
            self._with_headers.add(handler)
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/', got {path!r}")
        prefix, brace, name = path.rpartition("/{")
        if brace and name.endswith("}") and "{" not in prefix:
            self._prefixes[prefix + "/"] = (name[:-1], handler, content_type)
        self._routes[path] = (handler, content_type)
        if post:
            self._post.add(path)

    def routes(self) -> list[str]:
        return sorted(self._routes)

    def _resolve(self, path: str, query: dict[str, str]) -> tuple[Handler, str] | None:
        """The route of `path`; a `{name}` segment goes into `query`. The segment is the rest of the
        path after the longest matching prefix, slashes included (a model named `fraud/v2`)."""
        route = self._routes.get(path)
        if route is None:
            prefix = max((p for p in self._prefixes if path.startswith(p)), key=len, default="")
            if prefix and len(path) > len(prefix):
                name, handler, content_type = self._prefixes[prefix]
                route, query[name] = (handler, content_type), path[len(prefix) :]
        return route

    def call(self, path: str, query: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """(status, answer) of a GET route, run in the calling thread: pages built from the API's own
        answers (the web UI). 404 when no route matches; an `ApiError` becomes its status and message."""
        params = dict(query or {})
        route = self._resolve(path, params)
        if route is None:
            return 404, {"error": f"no such route {path}"}
        try:
            result = route[0](params)
        except ApiError as exc:
            return exc.status, {"error": exc.message}
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            return result
        return 200, result

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if request.method == "POST" and request.path not in self._post:
            return web.json_response({"error": f"{request.path} answers GET only"}, status=405)
        route = self._resolve(request.path, query)
        if route is None:
            return web.json_response(
                {"error": f"no such route {request.path}", "routes": self.routes()}, status=404
            )
        handler, content_type = route
        try:
            if handler in self._with_headers:
                result = await asyncio.to_thread(handler, query, request.headers)  # type: ignore[call-arg]
            else:
                result = await asyncio.to_thread(handler, query)
        except ApiError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        except Exception:
            _log.exception("HTTP API handler for %s failed", request.path)
            message = f"internal error in {request.path}; see the sidecar log"
            return web.json_response({"error": message}, status=500)
        if isinstance(result, RawResponse):
            headers = {"Content-Type": result.content_type}
            return web.Response(body=result.body, status=result.status, headers=headers)
        status = 200
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            status, result = result
        if content_type == "application/json":
            return web.Response(
                text=json.dumps(result, default=str), status=status, content_type="application/json"
            )
        return web.Response(text=str(result), status=status, headers={"Content-Type": content_type})

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.authenticator is not None and not self.authenticator.authenticate(
            {k.lower(): v for k, v in request.headers.items()}
        ):
            return unauthorized()
        return await handler(request)

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        app.router.add_route("POST", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        host, port = split_hostport(self.endpoint, "service.http.endpoint")
        ssl_context = server_ssl_context(self.tls, "service.http.tls") if self.tls is not None else None
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    def start(self, loop_thread: EventLoopThread) -> None:
        self._loop_thread = loop_thread
        try:
            loop_thread.run(self._start())
        except OSError as exc:
            message = f"service.http.endpoint {self.endpoint}: cannot listen: {exc.strerror}"
            raise OSError(exc.errno, message) from exc

    def shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None and self._loop_thread is not None:
            self._loop_thread.run(runner.cleanup(), timeout=10)
