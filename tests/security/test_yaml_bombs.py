"""A 'billion laughs' YAML costs what it weighs: aliases are refused with the file and line, exit 2."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

LAUGHS = "\n".join(
    [f'l0: &l0 [{", ".join(["lol"] * 9)}]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["columns: {x: {not_null: true}}", ""]
)


def _limit_memory() -> None:  # an expanded bomb fails fast instead of swapping the machine
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60,
                         preexec_fn=_limit_memory)
    return run, time.monotonic() - started


def test_validate_refuses_alias_expansion(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(LAUGHS)
    assert len(LAUGHS) < 600  # 9**9 = 387M strings if expanded
    (tmp_path / "x.csv").write_text("x\n1\n")
    run, seconds = _run("-m", "otelml.cli", "validate", str(tmp_path / "x.csv"),
                                  "-e", str(tmp_path / "bomb.yaml"), "--no-audit",
                                  "--report", str(tmp_path / "r.json"))
    assert run.returncode == 2, run.stderr
    assert f"{tmp_path / 'bomb.yaml'}:2: invalid YAML: YAML aliases (*l0) are not supported" in run.stderr
    assert seconds < 30
    assert (tmp_path / "r.json").stat().st_size < 10_000


def test_sidecar_config_refuses_alias_expansion(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(LAUGHS)
    run, _ = _run("-m", "otelml_collector", "--config", str(tmp_path / "bomb.yaml"), "--validate")
    assert run.returncode == 2
    assert "not valid YAML (line 2, column" in run.stderr and "YAML aliases (*l0)" in run.stderr


def test_anchors_without_aliases_still_load(tmp_path: Path) -> None:
    from otelml.safe_yaml import load

    assert load("a: &x 1\nb: [1, 2]\n") == {"a": 1, "b": [1, 2]}
