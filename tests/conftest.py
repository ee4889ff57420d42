"""Shared fixtures: free ports, real OTLP sinks (oteltap, Arize Phoenix), sidecar subprocesses.

    def test_x(sidecar, otlp_sink, tmp_path):
        sc = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint))   # started, healthy
        ...                                                                      # stopped at teardown

Helpers behind them are importable from `tests.support`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
for path in (str(ROOT), str(ROOT / "collector")):
    if path not in sys.path:
        sys.path.insert(0, path)

from tests.support import OtlpSink, Phoenix, SidecarProcess, free_port  # noqa: E402

# tests/feast_venv runs in .venv-feast (tests/integrations/test_feast_venv.py starts it there).
collect_ignore = [] if importlib.util.find_spec("feast") else ["feast_venv"]


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@pytest.fixture
def otlp_sink() -> Iterator[OtlpSink]:
    """A started oteltap OTLP http/protobuf receiver; `.endpoint`, `.spans`, `.logs`, `.metrics`."""
    sink = OtlpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


_early_phoenix: list[Phoenix] = []


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Phoenix takes tens of seconds to boot: launch it as soon as a selected test needs it, so it boots
    while the other tests run (the `phoenix` fixture then only waits for it)."""
    if any("phoenix" in getattr(item, "fixturenames", ()) for item in items):
        try:
            workdir = config._tmp_path_factory.mktemp("phoenix")  # type: ignore[attr-defined]
            _early_phoenix.append(Phoenix(workdir).launch())
        except RuntimeError:
            pass  # not installed: the fixture raises the explanatory error when a test asks for it


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Arize Phoenix (traces over gRPC and HTTP), started once per session. Fails if not installed."""
    server = _early_phoenix.pop() if _early_phoenix else Phoenix(tmp_path_factory.mktemp("phoenix")).launch()
    try:
        yield server.wait_healthy()
    finally:
        server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _early_phoenix:  # launched but never used (e.g. deselected)
        _early_phoenix.pop().stop()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Callable[..., SidecarProcess]]:
    """Factory: `sidecar(config_dict, env=None)` starts a sidecar subprocess and waits until healthy."""
    started: list[SidecarProcess] = []

    def start(
        config: dict[str, Any], env: dict[str, str] | None = None, wait: bool = True, **auth: Any
    ) -> SidecarProcess:
        process = SidecarProcess(config, tmp_path / f"sidecar{len(started)}", env=env, **auth)
        started.append(process)
        return process.start() if wait else process

    try:
        yield start
    finally:
        for process in started:
            try:
                process.stop()
            finally:
                process.kill()
