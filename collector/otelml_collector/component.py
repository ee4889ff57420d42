"""Component model after the OpenTelemetry Collector: Factory + typed Config + Component.

A factory has a `type` (the key under `receivers:`, `processors:` or `exporters:` in the YAML, e.g.
`drift`; `drift/fast` names a second instance of type `drift`), builds a default config, and creates
the component from a validated config and a `ComponentContext`. Components are started once, consume
requests, and shut down idempotently. Processor factories are registered in
`otelml_collector.registry` so the config loader and the lifecycle test find every one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from otelml_collector.bus import EventBus

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider

    from otelml_collector.httpapi import HttpApi
    from otelml_collector.pipeline import TelemetryRequest
    from otelml_collector.state import StateStore

__all__ = [
    "Component",
    "ComponentConfig",
    "ComponentContext",
    "Consumer",
    "Exporter",
    "Extension",
    "Factory",
    "Processor",
    "ProcessorComponent",
    "Receiver",
    "ServerAuthenticator",
]

Consumer = Callable[["TelemetryRequest"], "float | None"]
"""Takes an accepted request; returns None when queued, or seconds the client should wait and retry."""


class ComponentConfig:
    """Base for typed configs (dataclasses). `validate()` raises `ValueError` naming the bad key,
    relative to the component (e.g. "window.size must be a positive integer, got -3"); the loader
    prefixes the full path (e.g. "processors.drift.window.size")."""

    def validate(self) -> None:
        return None


@dataclass
class ComponentContext:
    """What a component may use besides its config."""

    name: str  # full instance name, e.g. "drift" or "drift/fast"
    state: StateStore  # SQLite-backed persistence under `state.path`
    meter_provider: MeterProvider  # exports the sidecar's metrics downstream (OTLP)
    logger_provider: LoggerProvider  # exports the sidecar's log records (alerts) downstream (OTLP)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("otelml_collector"))
    settings: dict[str, Any] = field(default_factory=dict)  # service-level settings (e.g. trace_url_template)
    http_api: HttpApi | None = None  # register read-only GET routes: ctx.http_api.add_get("/v1/x", handler)
    bus: EventBus = field(default_factory=EventBus)  # alerts and performance windows between components
    # Started extensions by instance name (those listed in `service.extensions`), e.g. an authenticator
    # named by `auth.authenticator` or a storage named by `sending_queue.storage`.
    extensions: dict[str, Any] = field(default_factory=dict)
    peers: Callable[[], dict[str, Any]] = dict  # the sidecar's processors by name (read at query time)


@runtime_checkable
class Component(Protocol):
    def start(self) -> None: ...

    def shutdown(self) -> None:
        """Flush and release; safe to call more than once."""


@runtime_checkable
class Receiver(Component, Protocol):
    """Turns what clients send into `TelemetryRequest`s handed to its consumer (set before start)."""

    def set_consumer(self, consumer: Consumer) -> None: ...

    def listening(self) -> dict[str, int | None]:
        """Bound ports by protocol (e.g. {"grpc_port": 4317, "http_port": None}), for /v1/status."""


@runtime_checkable
class Processor(Component, Protocol):
    """Runs on a pipeline's worker thread; may read and annotate the request, returns it."""

    def process(self, request: TelemetryRequest) -> TelemetryRequest: ...


ProcessorComponent = Processor  # the earlier name


@runtime_checkable
class Exporter(Protocol):
    """Sends requests on; `consume` must not block on the network (queue and return)."""

    def start(self) -> None: ...

    def consume(self, request: TelemetryRequest) -> None: ...

    def offer(self, request: TelemetryRequest) -> bool:
        """Queue `request` if there is room now; False (nothing taken) when the sending queue is full,
        so a pipeline without processors can refuse the client with a retry hint."""

    def queue_depth(self) -> dict[str, int]: ...

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush for at most `timeout` seconds; safe to call more than once."""


@runtime_checkable
class Extension(Component, Protocol):
    """Under `extensions:`, enabled by `service.extensions`; started before and shut down after every
    pipeline component."""


@runtime_checkable
class ServerAuthenticator(Extension, Protocol):
    """An extension a server names in `auth.authenticator` (e.g. `bearertokenauth`)."""

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """True when the request's headers (names lower-case) carry valid credentials. Must not log
        the credentials and should compare in constant time."""


class Factory(Protocol):
    type: ClassVar[str]
    kind: ClassVar[str]  # "receiver" | "processor" | "exporter" | "extension"
    # Processors only, optional: processor types that must run before this one in its pipeline (e.g.
    # ("ml_extract",) for one that reads `request.records`); the config loader inserts a missing one.
    # needs: ClassVar[tuple[str, ...]]
    # Exporters only, optional: False for one that sends alerts, not the pipeline's telemetry (webhook).
    # forwards_telemetry: ClassVar[bool]

    def default_config(self) -> ComponentConfig: ...

    def config_from_dict(self, raw: dict[str, Any]) -> ComponentConfig:
        """Build the typed config from the YAML mapping (defaults for missing keys; unknown keys are
        an error naming the key)."""

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> Component: ...

    # Optional: `def metric_views(self, config) -> list[opentelemetry.sdk.metrics.view.View]` — views
    # (e.g. exemplar reservoirs) the sidecar installs on ctx.meter_provider before any component starts.
