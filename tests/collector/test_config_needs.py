"""Configs that cannot silently do nothing: a processor that reads ML records gets `ml_extract` in
front of it (and `--validate` says so), a wrong order is rejected naming the fix, and a missing
optional dependency names the extra to install instead of printing tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from otelml_collector.config import ConfigError, parse_config
from otelml_collector.otlp import Signal
from otelml_collector.service import Sidecar

REPO = Path(__file__).resolve().parents[2]


def drift_config(processors: str, defined: str = "drift: {}", state: str = ".otelml-state") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
processors:
  {defined}
exporters:
  otlp:
    endpoint: http://127.0.0.1:9
service:
  http:
    enabled: false
  pipelines:
    traces:
      receivers: [otlp]
      processors: {processors}
      exporters: [otlp]
state:
  path: {state}
"""


def run_cli(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "collector"), str(REPO)])
    argv = ["-c", code] if code else ["-m", "otelml_collector", *args]
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60, env=env)


def test_drift_without_ml_extract_gets_it_inserted_and_validate_says_so(tmp_path: Path) -> None:
    path = tmp_path / "drift-only.yaml"
    path.write_text(drift_config("[drift]", state=str(tmp_path / "state")))
    result = run_cli("--config", str(path), "--validate")
    assert result.returncode == 0, result.stderr
    assert "note: inserted processor ml_extract before drift in service.pipelines.traces.processors" in (
        result.stdout
    )
    assert "processors=['ml_extract', 'drift']" in result.stdout


def test_the_inserted_extractor_runs_in_the_sidecar(tmp_path: Path) -> None:
    config = parse_config(drift_config("[drift]", state=str(tmp_path / "state")), "drift-only.yaml")
    sidecar = Sidecar(config)
    try:
        names = [name for name, _ in sidecar.pipelines[Signal.TRACES].processors]
        assert names == ["ml_extract", "drift"]
        assert type(sidecar.processors["ml_extract"]).__name__ == "MLExtractProcessor"
    finally:
        sidecar.shutdown()


def test_a_configured_extractor_is_the_one_inserted(tmp_path: Path) -> None:
    text = drift_config("[quality]", "quality: {}\n  ml_extract/big:\n    max_models: 7")
    config = parse_config(text, "q.yaml")
    assert config.pipelines["traces"].processors == ["ml_extract/big", "quality"]
    assert any("as configured under processors.ml_extract/big" in note for note in config.notes)


def test_extractor_after_the_processor_that_needs_it_is_rejected_naming_the_fix() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(drift_config("[drift, ml_extract]", "drift: {}\n  ml_extract: {}"), "order.yaml")
    assert "service.pipelines.traces.processors: drift needs ml_extract before it" in str(err.value)
    assert "list ml_extract first (e.g. [ml_extract, drift])" in str(err.value)


def test_missing_optional_dependency_names_the_extra_without_a_traceback() -> None:
    code = (
        "import sys; sys.modules['grpc'] = None; sys.modules['aiohttp'] = None\n"
        "from otelml_collector.cli import main\n"
        "sys.exit(main(['--validate']))\n"
    )
    result = run_cli(code=code)
    assert result.returncode == 2
    assert "missing Python package(s) grpcio, aiohttp" in result.stderr
    assert "pip install 'otelml[collector]'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_processor_whose_dependency_is_missing_names_its_extra(tmp_path: Path) -> None:
    path = tmp_path / "quality.yaml"
    path.write_text(drift_config("[ml_extract, quality]", "quality: {}\n  ml_extract: {}"))
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from otelml_collector.cli import main\n"
        f"sys.exit(main(['--config', {str(path)!r}, '--validate']))\n"
    )
    result = run_cli(code=code)
    assert result.returncode == 2
    assert "processors.quality: unknown processor type 'quality'" in result.stderr
    assert "needs the Python package 'pandas': pip install 'otelml[quality]'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_pipeline_whose_only_exporter_posts_alerts_is_named_by_validate(tmp_path: Path) -> None:
    path = tmp_path / "alerts-only.yaml"
    path.write_text(
        drift_config("[drift]", state=str(tmp_path / "state")).replace(
            "exporters:\n  otlp:\n    endpoint: http://127.0.0.1:9",
            "exporters:\n  webhook:\n    endpoint: http://127.0.0.1:9/hook",
        ).replace("exporters: [otlp]", "exporters: [webhook]")
    )
    result = run_cli("--config", str(path), "--validate")
    assert result.returncode == 0, result.stderr
    assert "note: pipeline traces: webhook posts alerts only, so the traces are not forwarded anywhere" in (
        result.stdout
    )
    otlp_too = "\n  otlp:\n    endpoint: http://127.0.0.1:9\n  webhook:\n"
    text = path.read_text().replace("exporters: [webhook]", "exporters: [webhook, otlp]")
    both = parse_config(text.replace("\n  webhook:\n", otlp_too, 1))
    assert not any("posts alerts only" in note for note in both.notes)
