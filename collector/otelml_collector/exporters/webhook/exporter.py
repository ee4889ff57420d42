"""The `webhook` exporter: posts every alert the sidecar raises to a webhook (Slack or JSON).

Alerts come from the event bus (`bus.ALERTS`: WARN-or-worse log records emitted through the sidecar's
LoggerProvider — drift, data quality, performance, SLO, canary), not from the pipelines: the exporter
takes no OTLP traffic, so listing it in `service.pipelines` is optional and changes nothing.
The bus callback only puts the alert in a bounded queue; one worker thread deduplicates it (one
message per incident key per `dedupe_interval`), applies the rate limit, and posts it with retries
(tenacity: exponential backoff with jitter on connection errors, timeouts, 429 and 5xx). Nothing here
ever blocks the pipeline; what cannot be delivered is counted and logged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

from otelml_collector.bus import ALERTS, Alert
from otelml_collector.component import ComponentContext
from otelml_collector.exporters.webhook.config import WebhookConfig
from otelml_collector.exporters.webhook.message import incident_key, payload
from otelml_collector.pipeline import TelemetryRequest

__all__ = ["WebhookExporter"]

_log = logging.getLogger("otelml_collector.exporters.webhook")
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_INCIDENT_KEYS = 10_000
_STOP = object()


class _Retryable(Exception):
    """A failed attempt worth repeating (connection error, timeout, 429/5xx)."""


class WebhookExporter:
    def __init__(self, config: WebhookConfig, ctx: ComponentContext) -> None:
        self.config = config
        self._ctx = ctx
        self._trace_url = ctx.settings.get("trace_url_template")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.sending_queue.queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": "application/json", **config.headers})
        self._sent_keys: OrderedDict[str, float] = OrderedDict()
        self._window_start = 0.0
        self._window_count = 0
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.counts = {
            "received": 0,
            "sent": 0,
            "retries": 0,
            "failed": 0,
            "deduplicated": 0,
            "rate_limited": 0,
            "queue_full": 0,
        }

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._work, name="otelml-webhook", daemon=True)
        self._thread.start()
        self._unsubscribe = self._ctx.bus.subscribe(ALERTS, self.on_alert)

    def public_url(self) -> str:
        """`public_url`, else the sidecar's own HTTP API (where /ui/predictions/{id} is served)."""
        if self.config.public_url:
            return self.config.public_url
        api = self._ctx.http_api
        if api is None:
            return "http://127.0.0.1:8890"
        host, _, port = api.endpoint.rpartition(":")
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::", "[::]") else host
        scheme = "https" if getattr(api, "tls", None) else "http"
        return f"{scheme}://{host}:{api.port or port}"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Post what is queued for up to `timeout` seconds, then stop (retries are cut short)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._stopping.set()
        self._thread.join(1.0)
        self._thread = None
        self._session.close()

    # -- the Exporter role: OTLP requests are not this exporter's business ---------------------------
    def consume(self, request: TelemetryRequest) -> None:
        return None

    def offer(self, request: TelemetryRequest) -> bool:
        return True

    def queue_depth(self) -> dict[str, int]:
        with self._lock:
            return {"requests": self._queue.qsize(), **self.counts}

    # -- alerts --------------------------------------------------------------------------------------
    def on_alert(self, alert: Alert) -> None:
        """Bus callback (any thread): queue and return."""
        if self.config.events and alert.event_name not in self.config.events:
            return
        with self._lock:
            self.counts["received"] += 1
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._count(
                "queue_full", "the webhook queue is full; alerts are dropped (sending_queue.queue_size)"
            )

    def _count(self, what: str, warning: str | None = None) -> None:
        with self._lock:
            self.counts[what] += 1
        if warning and what not in self._warned:
            self._warned.add(what)
            _log.warning("webhook %s: %s (logged once; counted as %s)", self.config.endpoint, warning, what)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception:  # never let one alert stop the worker
                _log.exception("webhook: failed to handle an alert")

    def _handle(self, alert: Alert) -> None:
        now = time.monotonic()
        key = incident_key(alert)
        last = self._sent_keys.get(key)
        if last is not None and now - last < self.config.dedupe_interval:
            self._count("deduplicated")
            return
        if now - self._window_start >= self.config.rate_limit.interval:
            self._window_start, self._window_count = now, 0
        if self._window_count >= self.config.rate_limit.messages:
            self._count("rate_limited", "rate limit reached; alerts are dropped until the interval ends")
            return
        self._window_count += 1
        self._sent_keys[key] = now
        self._sent_keys.move_to_end(key)
        while len(self._sent_keys) > _MAX_INCIDENT_KEYS:
            self._sent_keys.popitem(last=False)
        body = payload(alert, self.config.format, self.public_url(), self._trace_url)
        try:
            self._post(body)
            self._count("sent")
        except Exception as exc:
            self._count("failed")
            _log.warning(
                "webhook %s: alert %s not delivered: %s", self.config.endpoint, alert.event_name, exc
            )

    def _post(self, body: dict[str, Any]) -> None:
        retry = self.config.retry_on_failure
        attempts = retry.max_attempts if retry.enabled else 1
        for attempt in Retrying(
            stop=stop_after_attempt(attempts) | stop_when_event_set(self._stopping),
            wait=wait_exponential(multiplier=retry.initial_interval, max=retry.max_interval)
            + wait_random(0, retry.initial_interval),
            retry=retry_if_exception_type(_Retryable),
            sleep=self._stopping.wait,
            before_sleep=self._before_retry,
            reraise=True,
        ):
            with attempt:
                self._attempt(body)

    def _before_retry(self, state: RetryCallState) -> None:
        self._count("retries")

    def _attempt(self, body: dict[str, Any]) -> None:
        try:
            response = self._session.post(self.config.endpoint, json=body, timeout=self.config.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in _RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise RuntimeError(f"HTTP {response.status_code} (not retried): {response.text[:200]}")
