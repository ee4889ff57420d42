"""The running sidecar: builds components from a `SidecarConfig`, wires receivers -> processors ->
exporters per signal, serves the HTTP API, and shuts everything down in order.
One `SignalPipeline` per signal (signal_pipeline.py) carries requests through the processors.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from opentelemetry.sdk.metrics.view import View

from otelml_collector import __version__
from otelml_collector.bus import EventBus
from otelml_collector.component import (
    Component,
    ComponentContext,
    Exporter,
    Extension,
    Processor,
    Receiver,
    ServerAuthenticator,
)
from otelml_collector.config import ComponentSpec, SidecarConfig, receiver_endpoints
from otelml_collector.downstream import Target
from otelml_collector.httpapi import EventLoopThread, HttpApi, RawResponse
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.process_metrics import register_process_instruments, register_queue_instruments
from otelml_collector.prometheus import PrometheusExposition
from otelml_collector.signal_pipeline import SignalPipeline
from otelml_collector.state import StateStore
from otelml_collector.telemetry import (
    Counters,
    PullMetricReader,
    build_providers,
)

__all__ = ["Sidecar"]

_log = logging.getLogger("otelml_collector")
_MIB = 1024 * 1024


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
        # the sidecar's own telemetry goes where the first exporter with OTLP targets sends
        first_exporter = next(
            (e for e in config.exporters.values() if getattr(e.config, "targets", None) is not None), None
        )
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
        self.metrics_reader = PullMetricReader()
        self.bus = EventBus()
        self.meter_provider, self.logger_provider = build_providers(
            metrics_target,
            logs_target,
            export_interval_ms=int(svc.telemetry.metrics.interval * 1000),
            views=views,
            extra_readers=[self.metrics_reader],
            alert_bus=self.bus,
        )
        self.counters.register_instruments(self.meter_provider)
        register_process_instruments(self.meter_provider, self.started_at)
        register_queue_instruments(self.meter_provider, self._exporter_queues)
        self.exposition = PrometheusExposition(self.metrics_reader)
        self.extensions: dict[str, Extension] = {}
        self.http_api: HttpApi | None = None  # extensions are created before it and get none
        for name, spec in config.extensions.items():  # in service.extensions order; later ones see earlier
            self.extensions[name] = self._create(spec, {}, Extension)
        self.http_api = (
            HttpApi(
                svc.http.endpoint,
                tls=svc.http.tls,
                authenticator=self._authenticator(svc.http.auth, "service.http"),
            )
            if svc.http.enabled
            else None
        )
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
                svc.queue.max_cells,
                svc.queue.retry_after,
            )
        for name, receiver in self.receivers.items():
            receiver.set_consumer(self._consumer(name))

    def _authenticator(self, auth: Any, key: str) -> ServerAuthenticator | None:
        if auth is None:
            return None
        extension = self.extensions.get(auth.authenticator)
        if not isinstance(extension, ServerAuthenticator):
            raise ValueError(
                f"{key}.auth.authenticator: {auth.authenticator!r} is not an enabled authenticator"
            )
        return extension

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
            bus=self.bus,
            extensions=dict(self.extensions),
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

        def may_wait(signal: Signal) -> bool:
            """Whether `consume` may wait (a durable sending queue: until the request is on disk);
            otherwise it only queues, as exporters must not block."""
            pipeline = self.pipelines.get(signal)
            return pipeline is not None and bool(pipeline.durable)

        consume.may_wait = may_wait  # type: ignore[attr-defined]
        return consume

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Extensions, exporters, processors, pipeline workers, HTTP API, then receivers (so nothing is
        refused)."""
        starting: list[Component | Exporter] = [
            *self.extensions.values(),
            *self.exporters.values(),
            *self.processors.values(),
        ]
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
        for name, extension in reversed(self.extensions.items()):
            _safe(f"extensions.{name}", extension.shutdown)
        _safe("state", self.state.close)
        _log.info("otelml-collector stopped: %s", self.counters.snapshot())

    # -- HTTP API ----------------------------------------------------------------------------------
    def _register_routes(self, api: HttpApi) -> None:
        api.add_get(
            "/healthz", lambda q: (200, {"status": "ok"}) if self.healthy else (503, {"status": "stopping"})
        )
        api.add_get("/v1/status", lambda q: self.status())
        api.add_get("/metrics", self._metrics, headers=True)
        from otelml_collector.ui import register as register_ui

        register_ui(api)  # the web UI (/ui/...), built from the answers of the JSON routes

    def _metrics(self, query: Any, headers: Any) -> RawResponse:
        body, content_type = self.exposition.render(headers.get("Accept"))
        return RawResponse(body, content_type)

    def _exporter_queues(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for name, exporter in getattr(self, "exporters", {}).items():
            depth = exporter.queue_depth()
            if "capacity" in depth:
                out[name] = (depth.get("requests", 0), depth["capacity"])
        return out

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
