"""Importable test helpers shared by every test folder: free ports, a sidecar subprocess, OTLP sinks.

    from tests.support import SidecarProcess, OtlpSink, Phoenix, free_port, sidecar_config

The matching pytest fixtures (`sidecar`, `otlp_sink`, `phoenix`) live in tests/conftest.py.
"""

from __future__ import annotations

from tests.support.net import free_port, wait_until
from tests.support.sidecar import SidecarProcess, sidecar_config
from tests.support.sinks import OtlpSink, Phoenix, phoenix_binary

__all__ = [
    "OtlpSink",
    "Phoenix",
    "SidecarProcess",
    "free_port",
    "phoenix_binary",
    "sidecar_config",
    "wait_until",
]
