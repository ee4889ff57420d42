"""The Feast tests (tests/feast_venv) in their own environment: Feast pins pandas < 3, which would change
the main environment (pandas 2's CSV parser reads floats differently). `make feast` builds .venv-feast;
$OTELML_FEAST_PYTHON names its interpreter. Missing, this test fails and says how to build it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def feast_python() -> str:
    for candidate in (os.environ.get("OTELML_FEAST_PYTHON"), str(ROOT / ".venv-feast" / "bin" / "python")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("the Feast environment is missing: run `make feast` or set OTELML_FEAST_PYTHON")


def test_feast_instrumentor_suite_passes_in_its_environment() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([feast_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "feast_venv")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.splitlines()[-1]
