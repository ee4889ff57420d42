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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry.util.re import parse_env_headers

__all__ = ["PROTOCOLS", "Target", "grpc_authority", "resolve_target"]

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
    tls.insecure. Values are assumed validated by the config loader.
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
    return Target(signal, protocol, endpoint, headers, insecure, explicit)


def _join(base: str, signal: str) -> str:
    return base if base.endswith("/" + _PATHS[signal]) else base.rstrip("/") + "/" + _PATHS[signal]
