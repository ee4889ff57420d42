"""Load and validate the sidecar's YAML config (shaped like the OpenTelemetry Collector's).

Top-level keys: `receivers`, `processors`, `exporters`, `extensions` (each a mapping of instance name
-> settings, the name being `type` or `type/label`), `service` (pipelines, enabled extensions, HTTP API,
queue, self-telemetry) and `state` (`path`). String values may reference environment variables as
`${env:NAME}`, `${env:NAME:-default}` or `${NAME}`. Every error is a `ConfigError` whose message
starts with the file and the full key path, e.g.
`sidecar.yaml: exporters.otlp.protocol: must be one of grpc, http/protobuf, got 'http'`.
Keys are documented in docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from otelml import safe_yaml
from otelml_collector import registry
from otelml_collector.component import ComponentConfig, Factory
from otelml_collector.configutil import Duration, expand_env, from_mapping
from otelml_collector.downstream import grpc_authority
from otelml_collector.extensions import check_server_security, check_storage_refs, enabled_extensions
from otelml_collector.security import AuthConfig, ServerTlsConfig

__all__ = [
    "DEFAULT_CONFIG_YAML",
    "ComponentSpec",
    "ConfigError",
    "SidecarConfig",
    "load_config",
    "parse_config",
]

SIGNALS = ("traces", "metrics", "logs")
TOP_LEVEL = ("receivers", "processors", "exporters", "service", "state", "extensions", "connectors")
_EXTRACTION_TYPE = "ml_extract"

DEFAULT_CONFIG_YAML = """\
# Embedded default: used when otelml-collector runs without --config.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:OTELML_COLLECTOR_GRPC_ENDPOINT:-127.0.0.1:4317}
      http:
        endpoint: ${env:OTELML_COLLECTOR_HTTP_ENDPOINT:-127.0.0.1:4318}
processors: {}          # filled with ml_extract and drift when those are installed
exporters:
  otlp: {}              # downstream from OTEL_EXPORTER_OTLP_* variables
service:
  http:
    endpoint: ${env:OTELML_COLLECTOR_API_ENDPOINT:-127.0.0.1:8890}
state:
  path: ${env:OTELML_COLLECTOR_STATE_PATH:-.otelml-state}
"""


class ConfigError(ValueError):
    """A config problem; the message names the file and the key path."""


@dataclass
class PipelineSpec:
    receivers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    exporters: list[str] = field(default_factory=list)


@dataclass
class HttpApiSettings:
    endpoint: str = "127.0.0.1:8890"
    enabled: bool = True
    tls: ServerTlsConfig | None = None
    auth: AuthConfig | None = None  # every path (API, UI, /metrics) then needs the credentials


@dataclass
class QueueSettings:
    max_requests: int = 256  # requests waiting for the processors
    max_size_mib: float = 128.0
    max_cells: int = 4_000_000  # cells (attributes, array elements) waiting or being processed
    retry_after: Duration = 1.0  # hint sent to clients when the queue is full


@dataclass
class MetricsTelemetry:
    interval: Duration = 10.0  # export interval of the sidecar's own metrics
    enabled: bool = True


@dataclass
class LogsTelemetry:
    level: str = "info"
    enabled: bool = True  # export OTel log records (alerts) downstream


@dataclass
class TelemetrySettings:
    metrics: MetricsTelemetry = field(default_factory=MetricsTelemetry)
    logs: LogsTelemetry = field(default_factory=LogsTelemetry)


@dataclass
class ServiceSettings:
    pipelines: dict[str, PipelineSpec] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)  # instance names under `extensions:` to start
    http: HttpApiSettings = field(default_factory=HttpApiSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    shutdown_timeout: Duration = 10.0
    trace_url_template: str | None = None
    extensions: list[str] = field(default_factory=list)  # names under `extensions:` to run


@dataclass
class StateSettings:
    path: str = ".otelml-state"


@dataclass
class ComponentSpec:
    name: str  # instance name, e.g. "drift/fast"
    factory: Factory
    config: ComponentConfig


@dataclass
class SidecarConfig:
    source: str
    receivers: dict[str, ComponentSpec]
    processors: dict[str, ComponentSpec]
    exporters: dict[str, ComponentSpec]
    service: ServiceSettings
    state: StateSettings
    pipelines: dict[str, PipelineSpec]  # effective wiring (explicit or default), one per signal present
    notes: list[str] = field(default_factory=list)  # what the loader added (printed by --validate)
    extensions: dict[str, ComponentSpec] = field(default_factory=dict)  # enabled, in service.extensions order


def load_config(path: str | os.PathLike[str] | None) -> SidecarConfig:
    """Read, parse and validate `path`, or the embedded default when None."""
    if path is None:
        return parse_config(DEFAULT_CONFIG_YAML, "<embedded default config>", embedded=True)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the config file is not UTF-8 text: {exc}") from exc
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>", *, embedded: bool = False) -> SidecarConfig:
    try:
        doc = safe_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from exc
    try:
        return _build(expand_env(doc if doc is not None else {}, ""), source, embedded)
    except ConfigError:
        raise
    except ValueError as exc:
        line = _line_of(text, str(exc))
        raise ConfigError(f"{source}: {exc}{f' (line {line})' if line else ''}") from exc


def _line_of(text: str, message: str) -> int | None:
    """Line of the deepest YAML key on the key path a message starts with (None if not found)."""
    match = re.match(r"([A-Za-z_][\w/-]*(?:\.[\w/-]+)*)", message)
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if match is None or node is None:
        return None
    line = None
    for part in match.group(1).split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line


def _build(doc: Any, source: str, embedded: bool) -> SidecarConfig:
    if not isinstance(doc, dict):
        raise ValueError(f"the top level must be a mapping with {', '.join(TOP_LEVEL[:5])}, got {doc!r}")
    for key in doc:
        if key not in TOP_LEVEL:
            raise ValueError(f"{key}: unknown top-level key (valid: {', '.join(TOP_LEVEL[:5])})")
    if doc.get("connectors"):
        raise ValueError(
            "connectors: not supported by otelml-collector (run them in an upstream OTel Collector)"
        )

    if embedded and not doc.get("processors"):
        available = registry.types("processor")
        doc["processors"] = {t: {} for t in (_EXTRACTION_TYPE, "drift") if t in available}

    sections = {kind: _components(doc, kind) for kind in ("receiver", "processor", "exporter", "extension")}
    raw_service = dict(doc.get("service") or {})
    raw_pipelines = raw_service.pop("pipelines", None)
    service = from_mapping(ServiceSettings, raw_service, "service.")
    _check_log_level(service.telemetry.logs.level)
    extensions = enabled_extensions(service.extensions, sections["extension"])
    check_server_security(_servers(service, sections["receiver"]), extensions)
    state = from_mapping(StateSettings, doc.get("state"), "state.")
    if not state.path.strip():
        raise ValueError("state.path: must not be empty (a directory for the sidecar's SQLite state)")

    if not sections["receiver"]:
        raise ValueError("receivers: configure at least one receiver (e.g. otlp)")
    if not sections["exporter"]:
        raise ValueError("exporters: configure at least one exporter (e.g. otlp)")
    pipelines = (
        _explicit_pipelines(raw_pipelines, sections)
        if raw_pipelines is not None
        else _default_pipelines(sections)
    )
    notes = _insert_needed(pipelines, sections["processor"], explicit=raw_pipelines is not None)
    notes += _unforwarded(pipelines, sections["exporter"])
    service.pipelines = pipelines
    _check_loops(sections)
    check_storage_refs(sections["exporter"], extensions)
    return SidecarConfig(
        source,
        sections["receiver"],
        sections["processor"],
        sections["exporter"],
        service,
        state,
        pipelines,
        notes,
        extensions,
    )


def _components(doc: dict[str, Any], kind: str) -> dict[str, ComponentSpec]:
    section = kind + "s"
    raw = doc.get(section)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{section}: expected a mapping of component names to settings, got {raw!r}")
    specs: dict[str, ComponentSpec] = {}
    for name, settings in raw.items():
        name = str(name)
        prefix = f"{section}.{name}"
        try:
            factory = registry.get(kind, name)
        except registry.UnknownComponentError as exc:
            raise ValueError(f"{prefix}: {exc}") from None
        if settings is not None and not isinstance(settings, dict):
            raise ValueError(f"{prefix}: expected a mapping of settings, got {settings!r}")
        try:
            config = factory.config_from_dict(dict(settings or {}))
            config.validate()
        except ValueError as exc:
            raise ValueError(
                f"{prefix}.{exc}" if _starts_with_key(str(exc)) else f"{prefix}: {exc}"
            ) from None
        specs[name] = ComponentSpec(name, factory, config)
    return specs


def _starts_with_key(message: str) -> bool:
    """'window.size: ...' or 'window.size must be ...' (a key path the component named)."""
    match = re.match(r"([A-Za-z_][\w/\[\]-]*(?:\.[\w/\[\]-]+)*)(:| must| is| should)", message)
    if match is None:
        return False
    return "." in match.group(1) or match.group(2) == ":" or "_" in match.group(1)


def _explicit_pipelines(raw: Any, sections: dict[str, dict[str, ComponentSpec]]) -> dict[str, PipelineSpec]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError("service.pipelines: expected a mapping with traces, metrics and/or logs")
    pipelines: dict[str, PipelineSpec] = {}
    for name, body in raw.items():
        key = f"service.pipelines.{name}"
        if str(name).split("/", 1)[0] not in SIGNALS:
            raise ValueError(f"{key}: unknown pipeline (valid: {', '.join(SIGNALS)})")
        if str(name) in SIGNALS and "/" not in str(name) and any(p.split("/")[0] == name for p in pipelines):
            raise ValueError(f"{key}: defined twice")
        spec = from_mapping(PipelineSpec, body, key + ".")
        for kind in ("receiver", "processor", "exporter"):
            names = getattr(spec, kind + "s")
            for i, ref in enumerate(names):
                if ref not in sections[kind]:
                    defined = ", ".join(sections[kind]) or "none"
                    raise ValueError(
                        f"{key}.{kind}s[{i}]: {kind} {ref!r} is not defined under {kind}s: "
                        f"(defined: {defined})"
                    )
            if len(set(names)) != len(names):
                raise ValueError(f"{key}.{kind}s: lists a component twice")
        if not spec.receivers:
            raise ValueError(f"{key}.receivers: list at least one receiver")
        if not spec.exporters:
            raise ValueError(f"{key}.exporters: list at least one exporter")
        if str(name).split("/")[0] in pipelines:
            raise ValueError(f"{key}: only one pipeline per signal is supported")
        pipelines[str(name).split("/")[0]] = spec
    return pipelines


def _default_pipelines(sections: dict[str, dict[str, ComponentSpec]]) -> dict[str, PipelineSpec]:
    """Every receiver and exporter in every signal; processors (extraction first) on traces only."""
    receivers, exporters = list(sections["receiver"]), list(sections["exporter"])
    processors = sorted(sections["processor"], key=lambda n: n.split("/")[0] != _EXTRACTION_TYPE)
    return {
        signal: PipelineSpec(receivers, processors if signal == "traces" else [], exporters)
        for signal in SIGNALS
    }


def _unforwarded(pipelines: dict[str, PipelineSpec], exporters: dict[str, ComponentSpec]) -> list[str]:
    """A note for each pipeline whose exporters all send alerts only: its telemetry is processed, then
    dropped, which is legitimate (alerts-only sidecar) but should never be a surprise."""
    return [
        f"pipeline {signal}: {', '.join(spec.exporters)} posts alerts only, so the {signal} are not "
        "forwarded anywhere (add an otlp exporter to this pipeline to forward them)"
        for signal, spec in pipelines.items()
        if spec.exporters
        and not any(getattr(exporters[n].factory, "forwards_telemetry", True) for n in spec.exporters)
    ]


def _insert_needed(
    pipelines: dict[str, PipelineSpec], processors: dict[str, ComponentSpec], explicit: bool
) -> list[str]:
    """Make every processor's `needs` (e.g. drift needs ml_extract) run before it: a needed type missing
    from the pipeline is inserted in front of the first processor that needs it (defined under
    `processors:` if it was, else with its defaults) and noted; one listed after is an error naming the
    fix. Returns the notes."""
    notes: list[str] = []
    for signal, spec in pipelines.items():
        where = f"service.pipelines.{signal}.processors" if explicit else f"the default {signal} pipeline"
        i = 0
        while i < len(spec.processors):
            name = spec.processors[i]
            for needed in getattr(processors[name].factory, "needs", ()):
                types = [p.split("/", 1)[0] for p in spec.processors]
                if needed in types[:i]:
                    continue
                if needed in types:
                    later = spec.processors[types.index(needed)]
                    raise ValueError(
                        f"{where}: {name} needs {needed} before it, but {later} comes after it; "
                        f"list {later} first (e.g. [{later}, {name}])"
                    )
                instance = next((p for p in processors if p.split("/", 1)[0] == needed), needed)
                if instance not in processors:
                    try:
                        factory = registry.get("processor", needed)
                    except registry.UnknownComponentError as exc:
                        raise ValueError(f"{where}: {name} needs processor {needed}: {exc}") from None
                    processors[instance] = ComponentSpec(instance, factory, factory.default_config())
                    how = "with its default settings"
                else:
                    how = f"as configured under processors.{instance}"
                spec.processors.insert(i, instance)
                i += 1
                notes.append(
                    f"inserted processor {instance} before {name} in {where} ({how}): {name} reads the "
                    f"ML records {needed} extracts; list it yourself to silence this note"
                )
            i += 1
    return notes


def _servers(service: ServiceSettings, receivers: dict[str, ComponentSpec]) -> list[tuple[str, Any]]:
    """(key, settings) of every server: the HTTP API and each receiver protocol."""
    servers: list[tuple[str, Any]] = [("service.http", service.http)]
    for name, spec in receivers.items():
        for proto in ("grpc", "http"):
            conf = getattr(spec.config, proto, None)
            if conf is not None:
                servers.append((f"receivers.{name}.protocols.{proto}", conf))
    return servers


def _check_log_level(level: str) -> None:
    if level.lower() not in ("debug", "info", "warning", "warn", "error"):
        raise ValueError(
            f"service.telemetry.logs.level: must be debug, info, warning or error, got {level!r}"
        )


def receiver_endpoints(receivers: dict[str, ComponentSpec]) -> set[str]:
    """host:port of every receiver listener, localhost names normalised to 127.0.0.1."""
    out: set[str] = set()
    for spec in receivers.values():
        for proto in ("grpc", "http"):
            conf = getattr(spec.config, proto, None)
            if conf is not None:
                host, _, port = conf.endpoint.rpartition(":")
                host = {"localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1"}.get(host, host)
                out.add(f"{host}:{port}")
    return out


def _check_loops(sections: dict[str, dict[str, ComponentSpec]]) -> None:
    own = receiver_endpoints(sections["receiver"])
    for name, spec in sections["exporter"].items():
        targets = getattr(spec.config, "targets", None)
        if targets is None:
            continue
        for signal, target in targets().items():
            if not target.explicit:
                continue
            authority = (
                grpc_authority(target.endpoint)
                if target.protocol == "grpc"
                else target.endpoint.split("://", 1)[-1].split("/")[0]
            )
            host, _, port = authority.rpartition(":")
            host = {"localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1"}.get(host, host)
            if f"{host}:{port}" in own:
                raise ValueError(
                    f"exporters.{name}: the {signal} endpoint {target.endpoint} is this sidecar's own "
                    "receiver, which would loop telemetry forever; point it at your backend"
                )
