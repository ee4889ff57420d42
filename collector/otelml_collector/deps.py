"""The sidecar's optional dependencies (the `otelml[collector]` extra), checked before they are needed."""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL_HINT", "install_hint", "missing_packages"]

INSTALL_HINT = "pip install 'otelml[collector]'"

_MODULES = {  # module -> distribution of the `collector` extra (pyproject.toml)
    "numpy": "numpy",
    "scipy": "scipy",
    "grpc": "grpcio",
    "aiohttp": "aiohttp",
    "opentelemetry.proto": "opentelemetry-proto",
    "google.rpc": "googleapis-common-protos",
    "requests": "requests",
    "tenacity": "tenacity",
}


_QUALITY = frozenset({"pandas", "pyarrow"})  # the `quality` processor's extra


def install_hint(module: str) -> str:
    """What to install when `module` (a missing import) is not there."""
    return "pip install 'otelml[quality]'" if module.split(".")[0] in _QUALITY else INSTALL_HINT


def missing_packages() -> list[str]:
    """Distributions of the `collector` extra that cannot be imported, in a stable order."""
    missing = []
    for module, distribution in _MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing, or the module is blocked
            found = False
        if not found:
            missing.append(distribution)
    return missing
