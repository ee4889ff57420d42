"""Helpers for the data-quality gate tests: run the real `otelml` CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite"


@pytest.fixture
def otelml(audit_db: Path, tmp_path: Path):
    """Run `otelml ARGS...` as a user would; the audit store lives in tmp_path."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliRun:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        full_env["OTELML_AUDIT_DB"] = str(audit_db)
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "otelml.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=full_env, timeout=timeout)
        return CliRun(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def otelml_inproc(
    audit_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    """The same CLI entry point called in this process (no interpreter start-up): for the many
    error-message cases; exit codes are still checked through a subprocess elsewhere."""
    from otelml.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTELML_AUDIT_DB", str(audit_db))
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return CliRun(code, out.out, out.err)

    return run
