"""Bad configuration of the predictions and performance processors: the error names the key."""

from __future__ import annotations

import pytest
from otelml_collector.config import ConfigError, parse_config


def _config(processor: str, body: str) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:0"}}}}}}}}
processors:
  ml_extract: {{}}
  {processor}: {body}
exporters: {{otlp: {{endpoint: "http://127.0.0.1:9"}}}}
"""


@pytest.mark.parametrize(
    ("processor", "body", "key"),
    [
        ("predictions", "{max_spans: 0}", "processors.predictions.max_spans"),
        ("predictions", "{retention: soon}", "processors.predictions.retention"),
        ("predictions", "{pending: {max_spans: -1}}", "processors.predictions.pending.max_spans"),
        ("predictions", "{colour: red}", "processors.predictions.colour"),
        ("performance", "{thresholds: {f2: 0.1}}", "processors.performance.thresholds.f2"),
        ("performance", "{task: ranking}", "processors.performance.task"),
        ("performance", "{min_coverage: 2}", "processors.performance.min_coverage"),
        ("performance", "{window: {size: 0}}", "processors.performance.window.size"),
        ("performance", "{baseline: {path: /nonexistent/b.json}}", "processors.performance.baseline.path"),
    ],
)
def test_bad_key_is_named(processor: str, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(processor, body), "sidecar.yaml")
    assert key in str(err.value) and "sidecar.yaml" in str(err.value)


def test_defaults_are_valid() -> None:
    text = _config("predictions", "{}").replace(
        "  predictions: {}", "  predictions: {}\n  performance: {segments: [a]}"
    )
    config = parse_config(text, "ok.yaml")
    assert {"predictions", "performance"} <= set(config.processors)
