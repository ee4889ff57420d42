"""A real HTTP webhook receiver (http.server in a thread) that can fail its first requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.fail_first = fail_first
        self.status = status
        self.attempts = 0
        self.messages: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.messages.append(json.loads(body))
                        receiver.headers.append(dict(self.headers))
                self.send_response(receiver.status if failing else 200)
                self.end_headers()
                self.wfile.write(b"boom" if failing else b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
