"""The running sidecar: builds components from a `SidecarConfig`, wires receivers -> processors ->
exporters per signal, serves the HTTP API, and shuts everything down in order.

Per signal, a request accepted by a receiver waits in a bounded queue (`service.queue`) for one
worker thread that runs the pipeline's processors in order and hands the result to its exporters.
A pipeline without processors skips that queue and hands requests straight to the exporter; when
its sending queue is full the client is refused with a retry hint instead. A processor that raises
is logged (once per processor and error type) and skipped for that request: telemetry is never
lost to a processor bug.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from opentelemetry.sdk.metrics.view import View

from otelml_collector import __version__
from otelml_collector.component import Component, ComponentContext, Exporter, Processor, Receiver
from otelml_collector.config import ComponentSpec, SidecarConfig, receiver_endpoints
from otelml_collector.downstream import Target
from otelml_collector.httpapi import EventLoopThread, HttpApi
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.state import StateStore
from otelml_collector.telemetry import Counters, build_providers

__all__ = ["Sidecar", "SignalPipeline"]

_log = logging.getLogger("otelml_collector")
_MIB = 1024 * 1024


class SignalPipeline:
    """Bounded queue + one worker: processors in order, then every exporter."""

    def __init__(
        self,
        signal: Signal,
        processors: list[tuple[str, Processor]],
        exporters: list[Exporter],
        counters: Counters,
        max_requests: int,
        max_bytes: int,
        retry_after: float,
    ) -> None:
        self.signal = signal
        self.processors = processors
        self.exporters = exporters
        self.counters = counters
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.retry_after = retry_after
        self._queue: deque[tuple[TelemetryRequest, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.processor_errors: dict[str, int] = {}

    def start(self) -> None:
        if self.processors and self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name=f"otelml-pipeline-{self.signal}", daemon=True
            )
            self._thread.start()

    def submit(self, request: TelemetryRequest) -> float | None:
        if not self.processors:
            # Nothing has seen the request yet: if the only exporter's queue is full, refuse it with a
            # retry hint (the client keeps it) rather than accept and drop it.
            if len(self.exporters) == 1:
                try:
                    return None if self.exporters[0].offer(request) else self.retry_after
                except Exception:
                    self.counters.add(self.signal, "dropped", request.items, "internal_error")
                    _log.exception("exporter failed to take a %s request", self.signal)
                    return None
            self._export(request)
            return None
        size = len(request.raw) if request.raw is not None else request.message.ByteSize()
        with self._cond:
            if (
                self._closing
                or len(self._queue) >= self.max_requests
                or (self._queue and self._bytes + size > self.max_bytes)
            ):
                return self.retry_after
            self._queue.append((request, size))
            self._bytes += size
            self._cond.notify()
        return None

    def depth(self) -> dict[str, int]:
        with self._cond:
            return {"requests": len(self._queue), "bytes": self._bytes}

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                request, size = self._queue.popleft()
                self._bytes -= size
                self._busy = True
            try:
                self._run(request)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run(self, request: TelemetryRequest) -> None:
        for name, processor in self.processors:
            try:
                out = processor.process(request)
                if out is not None:
                    request = out
            except Exception as exc:
                self.processor_errors[name] = self.processor_errors.get(name, 0) + 1
                key = f"{name}:{type(exc).__name__}"
                if key not in self._warned:
                    self._warned.add(key)
                    _log.error(
                        "processor %s failed on a %s request; the request is forwarded without its "
                        "changes (logged once per error type)",
                        name,
                        self.signal,
                        exc_info=exc,
                    )
        self._export(request)

    def _export(self, request: TelemetryRequest) -> None:
        for exporter in self.exporters:
            try:
                exporter.consume(request)
            except Exception:
                self.counters.add(self.signal, "dropped", request.items, "internal_error")
                _log.exception("exporter failed to take a %s request", self.signal)

    def close(self, timeout: float) -> None:
        """Process what is queued (up to `timeout`s), then stop the worker."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            with self._cond:
                leftover = list(self._queue)
                self._queue.clear()
            for request, _ in leftover:
                self.counters.add(self.signal, "dropped", request.items, "shutdown")


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.counters = Counters()
        self.started_at = time.time()
        self.healthy = False
        self._stopped = False
        self._lock = threading.Lock()
        self.state = StateStore(config.state.path)
        svc = config.service
        own = receiver_endpoints(config.receivers)
        first_exporter = next(iter(config.exporters.values()), None)
        targets: dict[Signal, Target] = (
            getattr(first_exporter.config, "targets", dict)() if first_exporter else {}
        )
        metrics_target = targets.get(Signal.METRICS) if svc.telemetry.metrics.enabled else None
        logs_target = targets.get(Signal.LOGS) if svc.telemetry.logs.enabled else None
        if metrics_target is not None and not metrics_target.explicit:
            metrics_target = None
        if logs_target is not None and not logs_target.explicit:
            logs_target = None
        views: list[View] = []
        for spec in config.processors.values():
            hook = getattr(spec.factory, "metric_views", None)
            if hook is not None:
                views.extend(hook(spec.config))
        self.meter_provider, self.logger_provider = build_providers(
            metrics_target,
            logs_target,
            export_interval_ms=int(svc.telemetry.metrics.interval * 1000),
            views=views,
        )
        self.counters.register_instruments(self.meter_provider)
        self.http_api = HttpApi(svc.http.endpoint) if svc.http.enabled else None
        self._api_loop: EventLoopThread | None = None
        settings = {
            "counters": self.counters,
            "own_endpoints": own,
            "trace_url_template": svc.trace_url_template,
            "state_path": config.state.path,
        }
        self.exporters: dict[str, Exporter] = {
            n: self._create(spec, settings, Exporter) for n, spec in config.exporters.items()
        }
        self.processors: dict[str, Processor] = {
            n: self._create(spec, settings, Processor) for n, spec in config.processors.items()
        }
        self.receivers: dict[str, Receiver] = {
            n: self._create(spec, settings, Receiver) for n, spec in config.receivers.items()
        }
        self.components: dict[str, Any] = {
            **{f"exporters.{n}": c for n, c in self.exporters.items()},
            **{f"processors.{n}": c for n, c in self.processors.items()},
            **{f"receivers.{n}": c for n, c in self.receivers.items()},
        }
        self.pipelines: dict[Signal, SignalPipeline] = {}
        for signal_name, wiring in config.pipelines.items():
            signal = Signal(signal_name)
            self.pipelines[signal] = SignalPipeline(
                signal,
                [(n, self.processors[n]) for n in wiring.processors],
                [self.exporters[n] for n in wiring.exporters],
                self.counters,
                svc.queue.max_requests,
                int(svc.queue.max_size_mib * _MIB),
                svc.queue.retry_after,
            )
        for name, receiver in self.receivers.items():
            receiver.set_consumer(self._consumer(name))

    def _create(self, spec: ComponentSpec, settings: dict[str, Any], role: type[Any]) -> Any:
        kind = role.__name__.lower()
        ctx = ComponentContext(
            name=spec.name,
            state=self.state,
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            log=logging.getLogger(f"otelml_collector.{kind}s.{spec.name}"),
            settings=dict(settings),
            http_api=self.http_api,
            peers=lambda: dict(getattr(self, "processors", {})),
        )
        component = spec.factory.create(spec.config, ctx)
        if not isinstance(component, role):
            raise TypeError(
                f"{kind}s.{spec.name}: {type(component).__name__} is not a {role.__name__} "
                f"(methods: {', '.join(m for m in dir(role) if not m.startswith('_'))})"
            )
        return component

    def _consumer(self, receiver: str):  # type: ignore[no-untyped-def]
        def consume(request: TelemetryRequest) -> float | None:
            signal = Signal(request.signal)
            pipeline = self.pipelines.get(signal)
            spec = self.config.pipelines.get(signal.value)
            if pipeline is None or spec is None or receiver not in spec.receivers:
                self.counters.add(signal, "dropped", request.items, "no_pipeline")
                return None
            return pipeline.submit(request)

        return consume

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Exporters, processors, pipeline workers, HTTP API, then receivers (so nothing is refused)."""
        starting: list[Component | Exporter] = [*self.exporters.values(), *self.processors.values()]
        for component in starting:
            component.start()
        for pipeline in self.pipelines.values():
            pipeline.start()
        if self.http_api is not None:
            self._register_routes(self.http_api)
            self._api_loop = EventLoopThread("otelml-api")
            self.http_api.start(self._api_loop)
        for receiver in self.receivers.values():
            receiver.start()
        self.healthy = True
        _log.info("otelml-collector %s started (%s): %s", __version__, self.config.source, self.listening())

    def listening(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, receiver in self.receivers.items():
            out[f"receivers.{name}"] = receiver.listening()
        if self.http_api is not None:
            out["service.http"] = {"port": self.http_api.port}
        return out

    def shutdown(self) -> None:
        """Stop receiving, drain processors and exporters within `service.shutdown_timeout`. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        started, self.healthy = self.healthy, False
        # A sidecar that never finished starting has nothing worth waiting for.
        deadline = time.monotonic() + (self.config.service.shutdown_timeout if started else 1.0)
        remaining = lambda: max(0.5, deadline - time.monotonic())  # noqa: E731
        for name, receiver in self.receivers.items():
            _safe(f"receivers.{name}", receiver.shutdown)
        for pipeline in self.pipelines.values():
            pipeline.close(remaining())
        for name, processor in self.processors.items():
            _safe(f"processors.{name}", processor.shutdown)
        for name, exporter in self.exporters.items():
            _safe(f"exporters.{name}", lambda e=exporter: e.shutdown(remaining()))
        _safe("meter_provider", lambda: self.meter_provider.shutdown(timeout_millis=remaining() * 1000))
        _safe("logger_provider", self.logger_provider.shutdown)
        if self.http_api is not None:
            _safe("http_api", self.http_api.shutdown)
        if self._api_loop is not None:
            self._api_loop.stop()
        _safe("state", self.state.close)
        _log.info("otelml-collector stopped: %s", self.counters.snapshot())

    # -- HTTP API ----------------------------------------------------------------------------------
    def _register_routes(self, api: HttpApi) -> None:
        api.add_get(
            "/healthz", lambda q: (200, {"status": "ok"}) if self.healthy else (503, {"status": "stopping"})
        )
        api.add_get("/v1/status", lambda q: self.status())
        api.add_get(
            "/metrics", lambda q: self.counters.prometheus(), content_type="text/plain; version=0.0.4"
        )

    def status(self) -> dict[str, Any]:
        exporters = {f"exporters.{n}": e.queue_depth() for n, e in self.exporters.items()}
        return {
            "version": __version__,
            "config": self.config.source,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "healthy": self.healthy,
            "listening": self.listening(),
            "counters": self.counters.snapshot(),
            "pipelines": {
                str(s): {
                    "processors": [n for n, _ in p.processors],
                    "queue": p.depth(),
                    "processor_errors": dict(p.processor_errors),
                }
                for s, p in self.pipelines.items()
            },
            "exporters": exporters,
            "routes": self.http_api.routes() if self.http_api else [],
        }


def _safe(what: str, fn: Any) -> None:
    try:
        fn()
    except Exception:
        _log.exception("shutdown of %s failed", what)
