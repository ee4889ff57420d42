"""Where the sidecar sends things: one resolved OTLP target per signal.

Resolution order for each signal, most specific first (the OTel SDK's rules for the variables):

1. config `<signal>_endpoint` (used as-is),
2. config `endpoint` (http/protobuf: `/v1/<signal>` is appended; grpc: used as-is),
3. `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` (as-is),
4. `OTEL_EXPORTER_OTLP_ENDPOINT` (http/protobuf: `v1/<signal>` appended),
5. the SDK default (`http://localhost:4317`, or `http://localhost:4318/v1/<signal>`).

Protocol: config `protocol` > `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL` > `OTEL_EXPORTER_OTLP_PROTOCOL` >
`grpc`. Headers: config `headers` (mapping) merged over `OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`, or if that is
unset `OTEL_EXPORTER_OTLP_HEADERS`.

TLS files, compression and timeout, config first, then the per-signal variable, then the generic one:
`tls.ca_file` / `OTEL_EXPORTER_OTLP_[<SIGNAL>_]CERTIFICATE` (CA to trust), `tls.cert_file` /
`..._CLIENT_CERTIFICATE` and `tls.key_file` / `..._CLIENT_KEY` (client certificate for mTLS),
`compression` / `..._COMPRESSION` (gzip or none), `timeout` / `..._TIMEOUT` (the variable in
milliseconds, as the specification says; the Python SDK reads it as seconds, so a value under 100
is logged as suspicious).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.util.re import parse_env_headers

from otelml_collector.security import grpc_client_credentials

__all__ = [
    "PROTOCOLS",
    "Target",
    "grpc_authority",
    "resolve_target",
    "sdk_grpc_options",
    "sdk_http_options",
    "tls_sources",
]

_log = logging.getLogger("otelml_collector.downstream")
_warned: set[str] = set()

PROTOCOLS = ("grpc", "http/protobuf")
_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}


@dataclass(frozen=True)
class Target:
    signal: str
    protocol: str  # "grpc" | "http/protobuf"
    endpoint: str  # grpc: [scheme://]host:port; http: full URL of the signal's path
    headers: dict[str, str] = field(default_factory=dict)
    insecure: bool = True  # grpc only: plaintext channel
    explicit: bool = True  # False when nothing configured it (SDK default endpoint)
    ca_file: str | None = None  # PEM CA to verify the downstream with (None: the system's)
    cert_file: str | None = None  # client certificate (mTLS), with key_file
    key_file: str | None = None
    compression: str = "none"  # none | gzip
    timeout: float = 10.0  # seconds per export call

    @property
    def authority(self) -> str:
        return grpc_authority(self.endpoint)


def grpc_authority(endpoint: str) -> str:
    """`http://host:4317/` -> `host:4317` (what grpc channels want)."""
    if "://" not in endpoint:
        return endpoint.rstrip("/")
    return urlsplit(endpoint).netloc


def resolve_target(signal: str, cfg: Mapping[str, object], env: Mapping[str, str] | None = None) -> Target:
    """The downstream target of `signal` from the exporter's config mapping and the environment.

    `cfg` keys used: protocol, endpoint, traces_endpoint/metrics_endpoint/logs_endpoint, headers,
    tls.{insecure,ca_file,cert_file,key_file}, compression, timeout. Values are assumed validated by
    the config loader (`tls_sources`, `env_compression`, `env_timeout` raise on bad variables).
    """
    env = os.environ if env is None else env
    sig = signal.upper()
    protocol = str(
        cfg.get("protocol")
        or env.get(f"OTEL_EXPORTER_OTLP_{sig}_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    http = protocol != "grpc"
    explicit = True
    endpoint: str
    if cfg.get(f"{signal}_endpoint"):
        endpoint = str(cfg[f"{signal}_endpoint"])
    elif cfg.get("endpoint"):
        endpoint = _join(str(cfg["endpoint"]), signal) if http else str(cfg["endpoint"])
    elif env.get(f"OTEL_EXPORTER_OTLP_{sig}_ENDPOINT"):
        endpoint = env[f"OTEL_EXPORTER_OTLP_{sig}_ENDPOINT"]
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        endpoint = _join(base, signal) if http else base
    else:
        explicit = False
        endpoint = f"http://localhost:4318/{_PATHS[signal]}" if http else "http://localhost:4317"
    if http and "://" not in endpoint:
        endpoint = "http://" + endpoint
    env_headers = env.get(f"OTEL_EXPORTER_OTLP_{sig}_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    headers = dict(parse_env_headers(env_headers, liberal=True))  # per-signal replaces generic, as in the SDK
    headers.update({str(k): str(v) for k, v in dict(cfg.get("headers") or {}).items()})  # type: ignore[call-overload]
    tls = cfg.get("tls") or {}
    insecure_cfg = tls.get("insecure") if isinstance(tls, Mapping) else None
    if endpoint.startswith("https://"):
        insecure = False
    elif endpoint.startswith("http://"):
        insecure = True
    elif insecure_cfg is not None:
        insecure = bool(insecure_cfg)
    else:
        raw = env.get(f"OTEL_EXPORTER_OTLP_{sig}_INSECURE") or env.get("OTEL_EXPORTER_OTLP_INSECURE", "false")
        insecure = raw.strip().lower() == "true"
    if insecure_cfg is not None:
        insecure = bool(insecure_cfg)
    files = {field_: path for field_, (_, path) in tls_sources(signal, cfg, env).items()}
    compression = str(cfg.get("compression") or env_compression(signal, env)[1] or "none")
    timeout = cfg.get("timeout")
    return Target(
        signal,
        protocol,
        endpoint,
        headers,
        insecure,
        explicit,
        ca_file=files.get("ca_file"),
        cert_file=files.get("cert_file"),
        key_file=files.get("key_file"),
        compression=compression,
        timeout=float(timeout) if timeout is not None else env_timeout(signal, env)[1] or 10.0,  # type: ignore[arg-type]
    )


_TLS_VARIABLES = {"ca_file": "CERTIFICATE", "cert_file": "CLIENT_CERTIFICATE", "key_file": "CLIENT_KEY"}


def _env(signal: str, name: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """(variable, value) of the per-signal variable if set, else of the generic one."""
    specific = f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}"
    if env.get(specific, "").strip():
        return specific, env[specific].strip()
    generic = f"OTEL_EXPORTER_OTLP_{name}"
    return generic, (env.get(generic, "").strip() or None)


def tls_sources(
    signal: str, cfg: Mapping[str, object], env: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """{"ca_file": ("tls.ca_file" or the variable that set it, path), ...} for the files that are set."""
    env = os.environ if env is None else env
    tls = cfg.get("tls") or {}
    out: dict[str, tuple[str, str]] = {}
    for field_, variable in _TLS_VARIABLES.items():
        configured = tls.get(field_) if isinstance(tls, Mapping) else None
        if configured:
            out[field_] = (f"tls.{field_}", str(configured))
            continue
        name, value = _env(signal, variable, env)
        if value:
            out[field_] = (f"environment variable {name}", value)
    return out


def env_compression(signal: str, env: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """(variable, gzip|none|None); ValueError naming the variable for anything else."""
    name, value = _env(signal, "COMPRESSION", os.environ if env is None else env)
    if value is not None and value.lower() not in ("gzip", "none"):
        raise ValueError(f"environment variable {name}: must be gzip or none, got {value!r}")
    return name, value.lower() if value else None


def env_timeout(signal: str, env: Mapping[str, str] | None = None) -> tuple[str, float | None]:
    """(variable, seconds or None) from the variable in milliseconds; ValueError naming it if invalid."""
    name, value = _env(signal, "TIMEOUT", os.environ if env is None else env)
    if value is None:
        return name, None
    try:
        millis = float(value)
    except ValueError:
        millis = -1.0
    if not millis > 0:
        raise ValueError(
            f"environment variable {name}: expected a positive number of milliseconds, got {value!r}"
        )
    if millis < 100 and name not in _warned:
        _warned.add(name)
        _log.warning(
            "%s=%s is read as milliseconds (the OTel specification's unit); the Python SDK reads seconds",
            name,
            value,
        )
    return name, millis / 1000.0


def _join(base: str, signal: str) -> str:
    return base if base.endswith("/" + _PATHS[signal]) else base.rstrip("/") + "/" + _PATHS[signal]


def sdk_grpc_options(target: Target) -> dict[str, Any]:
    """The OTel SDK gRPC exporter's TLS, headers, timeout and compression, as the forwarding exporter's."""
    from grpc import Compression

    options: dict[str, Any] = {
        "insecure": target.insecure,
        "headers": target.headers,
        "timeout": target.timeout,
        "compression": Compression.Gzip if target.compression == "gzip" else Compression.NoCompression,
    }
    if not target.insecure:
        options["credentials"] = grpc_client_credentials(target.ca_file, target.cert_file, target.key_file)
    return options


def sdk_http_options(target: Target) -> dict[str, Any]:
    """The OTel SDK HTTP exporter's session, headers, timeout, compression and TLS files."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    client = target.cert_file and target.key_file
    session = None
    if target.ca_file:  # else $REQUESTS_CA_BUNDLE would replace it (psf/requests#3829)
        import requests

        session = requests.Session()
        session.trust_env = False
    return {
        "session": session,
        "headers": target.headers,
        "timeout": target.timeout,
        "compression": Compression.Gzip if target.compression == "gzip" else Compression.NoCompression,
        "certificate_file": target.ca_file,
        "client_certificate_file": target.cert_file if client else None,
        "client_key_file": target.key_file if client else None,
    }
