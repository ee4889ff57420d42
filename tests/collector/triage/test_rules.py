"""Unit rules of triage: which layer degraded first, config errors naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from otelml_collector.config import ConfigError, parse_config
from otelml_collector.findings import Finding
from otelml_collector.processors.diagnose.processor import verdict_of


def _f(layer: str, at: int) -> Finding:
    return Finding(layer, f"{layer}_signal", {"x": 1}, ("ab" * 16,), at)  # type: ignore[arg-type]


def test_the_layer_that_degraded_first_is_the_verdict_and_says_so() -> None:
    out = verdict_of([_f("system", 5), _f("model", 3), _f("model", 9)])
    assert out["verdict"] == "model"
    assert [e["signal"] for e in out["layers"]["model"]["evidence"]] == ["degraded_first", "model_signal",
                                                                         "model_signal"]
    assert out["layers"]["model"]["evidence"][0]["detail"]["order"] == ["model", "system"]
    assert out["layers"]["data"] == {"status": "ok", "evidence": []}
    assert verdict_of([_f("system", 1), _f("data", 1)])["verdict"] == "data"  # ties: the cause first
    assert verdict_of([]) == {"verdict": "none", "layers": {
        k: {"status": "ok", "evidence": []} for k in ("data", "model", "system")}}


def _config(processors: str) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: 127.0.0.1:0}}}}}}}}
processors: {processors}
exporters: {{otlp: {{endpoint: http://127.0.0.1:1}}}}
"""


@pytest.mark.parametrize(
    ("processors", "message"),
    [
        ("{canary: {min_samples: 0}}", "processors.canary.min_samples must be a positive integer"),
        ("{canary: {metric: auc}}", "processors.canary.metric: must be one of"),
        ("{canary: {evaluate: [{model: m, baseline: '1'}]}}",
         "processors.canary.evaluate[0].candidate: required"),
        ("{diagnose: {latency_factor: 0.5}}", "processors.diagnose.latency_factor must be above 1"),
        ("{diagnose: {view_sla: {customer: soon}}}", "processors.diagnose.view_sla.customer"),
        ("{diagnose: {nosuch: 1}}", "nosuch"),
    ],
)
def test_bad_config_names_the_key(processors: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(processors), "sidecar.yaml")
    assert message in str(err.value) and "sidecar.yaml" in str(err.value)


def test_a_baseline_file_without_a_diagnose_section_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"features": {}}))
    with pytest.raises(ConfigError, match="no `diagnose` section"):
        parse_config(_config(f"{{diagnose: {{baseline: {{path: {path}}}}}}}"), "sidecar.yaml")
    path.write_text(json.dumps({"diagnose": {"error_rate": -1}}))
    with pytest.raises(ConfigError, match=r"diagnose\.error_rate must be a non-negative number"):
        parse_config(_config(f"{{diagnose: {{baseline: {{path: {path}}}}}}}"), "sidecar.yaml")


def test_diagnose_needs_extraction_and_canary_nothing() -> None:
    config = parse_config(_config("{predictions: {}, canary: {}, diagnose: {}}"), "sidecar.yaml")
    order = config.pipelines["traces"].processors
    assert order.index("ml_extract") < order.index("diagnose") and order.count("ml_extract") == 1


def test_lookup_many_equals_one_lookup_per_key() -> None:
    import numpy as np
    from otelml_collector.predstore.keyindex import KeyIndex

    rng = np.random.default_rng(5)
    index = KeyIndex()
    pool = rng.integers(0, 2**63, 300, dtype=np.uint64)
    for chunk in range(40):
        index.add(rng.choice(pool, 20), chunk)
    index.evict_below(7)
    probes = np.concatenate([rng.choice(pool, 50), rng.integers(0, 2**63, 10, dtype=np.uint64)])
    expected = set().union(*(index.lookup(int(k)) for k in probes))
    assert index.lookup_many(probes) == expected and expected


def _calls(seconds: list[float]) -> list[Any]:
    from otelml_collector.predstore.calls import Call

    return [Call(f"p{i}", bytes([1 + i % 200]) * 16, b"\x02" * 8, "1", i * 10**6, i * 10**6 + int(s * 1e9),
                 False, 1, 0.5, {}) for i, s in enumerate(seconds)]


def test_a_sub_millisecond_model_that_jitters_is_not_slow_but_a_real_slowdown_is() -> None:
    from otelml_collector.processors.diagnose.config import DiagnoseConfig
    from otelml_collector.processors.diagnose.signals import Reference, span_findings

    ref = Reference(n=300, latency_p95_s=0.0003, error_rate=0.0, server_error_rate=0.0, stale_rate=0.0,
                    missing_rate=0.0, features=[])
    jitter = _calls([0.0009] * 200)  # 3x the reference p95, 0.6 ms slower: a busy host, not an incident
    slow = _calls([0.0259] * 200)  # 25 ms slower
    config = DiagnoseConfig()
    assert [f.signal for f in span_findings("1", jitter, ref, config)] == []
    assert [f.signal for f in span_findings("1", slow, ref, config)] == ["inference_latency"]
    strict = DiagnoseConfig(latency_min_increase=0.0)
    assert [f.signal for f in span_findings("1", jitter, ref, strict)] == ["inference_latency"]
