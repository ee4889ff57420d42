"""Table-driven config tests over tests/collector/testdata/*.yaml.

`valid_*.yaml` must load; `invalid_*.yaml` must fail with every `# expect: <text>` line of the file
appearing in the message, which also names the file. Plus the downstream defaults, which must be
read from OTEL_EXPORTER_OTLP_* exactly as the OTel SDK's own exporters read them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from otelml_collector.config import ConfigError, load_config, parse_config
from otelml_collector.downstream import resolve_target

TESTDATA = Path(__file__).parent / "testdata"
VALID = sorted(TESTDATA.glob("valid_*.yaml"))
INVALID = sorted(TESTDATA.glob("invalid_*.yaml"))
REPO = Path(__file__).resolve().parents[2]


def expectations(path: Path) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_configs_load(path: Path):
    config = load_config(path)
    assert config.source == str(path)
    assert config.receivers and config.exporters
    for signal, pipeline in config.pipelines.items():
        assert signal in ("traces", "metrics", "logs")
        assert pipeline.receivers and pipeline.exporters


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_configs_name_file_and_key(path: Path, monkeypatch):
    monkeypatch.delenv("OTELML_TEST_SURELY_UNSET", raising=False)
    wanted = expectations(path)
    assert wanted, f"{path.name} needs a '# expect:' line"
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    for text in wanted:
        assert text in message


def test_full_config_values(monkeypatch):
    monkeypatch.setenv("OTELML_TEST_DOWNSTREAM", "https://from-env.example:4318")
    config = load_config(TESTDATA / "valid_full.yaml")
    exporter = config.exporters["otlp"].config
    assert exporter.timeout == 2.5 and exporter.retry_on_failure.max_elapsed_time == 120.0
    targets = exporter.targets()
    assert targets["traces"].endpoint == "https://traces.example/v1/traces"  # per-signal key wins
    assert targets["metrics"].endpoint == "https://from-env.example:4318/v1/metrics"  # ${env:...} substituted
    assert targets["logs"].headers == {"authorization": "Bearer abc"}
    assert set(config.pipelines) == {"traces", "logs"}  # explicit pipelines: no metrics pipeline
    assert config.pipelines["traces"].processors == ["ml_extract"]
    assert config.service.queue.retry_after == 2.0
    assert config.service.trace_url_template == "http://localhost:16686/trace/{trace_id}"


def test_default_wiring_puts_extraction_first_and_processors_on_traces_only():
    config = parse_config(
        "receivers: {otlp: }\nprocessors: {drift: {}, ml_extract: {}}\n"
        "exporters: {otlp: {endpoint: 'http://127.0.0.1:14317'}}\n"
    )
    assert config.pipelines["traces"].processors == ["ml_extract", "drift"]
    assert config.pipelines["metrics"].processors == [] and config.pipelines["logs"].processors == []


def test_missing_file_is_named():
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the config file"):
        load_config("nope.yaml")


def test_example_config_is_valid(monkeypatch):
    for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(key, raising=False)
    config = load_config(REPO / "collector" / "config.example.yaml")
    assert "ml_extract" in config.processors


# -- downstream defaults: the SDK's own exporters are the reference ----------------------------
ENV_CASES = {
    "generic-http": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    },
    "generic-http-trailing-slash-path": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/otlp/",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    },
    "per-signal-http": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    },
    "http-default": {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
}


@pytest.mark.parametrize("env", ENV_CASES.values(), ids=list(ENV_CASES))
def test_http_endpoints_match_the_sdk(env, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("OTEL_EXPORTER_OTLP")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for signal, exporter_cls in (
        ("traces", HttpSpanExporter),
        ("metrics", HttpMetricExporter),
        ("logs", HttpLogExporter),
    ):
        target = resolve_target(signal, {})
        assert target.protocol == "http/protobuf"
        assert target.endpoint == exporter_cls()._endpoint, signal


GRPC_CASES = {
    "generic": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"},
    "per-signal-and-headers": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr%20t,x=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x=2",
    },
    "no-scheme-insecure-env": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    },
    "no-scheme-secure": {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
}


@pytest.mark.parametrize("env", GRPC_CASES.values(), ids=list(GRPC_CASES))
def test_grpc_endpoint_headers_and_tls_match_the_sdk(env, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("OTEL_EXPORTER_OTLP")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    target = resolve_target("traces", {})
    sdk = GrpcSpanExporter()
    assert target.protocol == "grpc"
    assert target.authority == sdk._endpoint
    assert target.insecure == sdk._insecure
    assert tuple(sorted(target.headers.items())) == tuple(sorted(sdk._headers or ()))


def test_config_keys_override_environment(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    target = resolve_target("metrics", {"endpoint": "http://cfg:4318", "protocol": "http/protobuf"})
    assert target.endpoint == "http://cfg:4318/v1/metrics"
    assert resolve_target("logs", {"protocol": "grpc"}).endpoint == "http://env:4318"  # grpc: as-is


@pytest.mark.parametrize("token", ["0123", "1:30", "0x1F", "yes", "1_000", "12345", "s3cr3t"])
def test_an_env_token_reaches_the_authenticator_exactly_as_set(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # YAML 1.1 would read 0123 as octal 83, 1:30 as 90 and yes as true: a token must arrive as its text.
    monkeypatch.setenv("OTELML_TOKEN", token)
    monkeypatch.setenv("OTELML_QUEUE", "64")
    config = parse_config(
        """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", auth: {authenticator: bearertokenauth}}
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    sending_queue: {queue_size: "${env:OTELML_QUEUE}"}
extensions:
  bearertokenauth: {token: "${env:OTELML_TOKEN}"}
service:
  extensions: [bearertokenauth]
"""
    )
    assert config.extensions["bearertokenauth"].config.token == token
    assert config.exporters["otlp"].config.sending_queue.queue_size == 64  # numbers are still typed
