"""`otelml drift` against the sidecar's real HTTP API (aiohttp on 127.0.0.1, ephemeral port)."""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from otelml_collector.component import ComponentContext
from otelml_collector.httpapi import EventLoopThread, HttpApi
from otelml_collector.pipeline import Signal, TelemetryRequest
from otelml_collector.processors.drift import DriftFactory
from otelml_collector.records import ModelBatch
from otelml_collector.state import StateStore

from otelml.cli import main


def batch(rng: np.random.Generator, n: int, shift: float) -> ModelBatch:
    return ModelBatch(
        model="credit",
        version="7",
        trace_id=rng.integers(0, 256, (n, 16), dtype=np.uint8),
        span_id=rng.integers(0, 256, (n, 8), dtype=np.uint8),
        time_unix_nano=np.arange(n, dtype=np.int64) + 1_700_000_000_000_000_000,
        prediction_id=[None] * n,
        numeric={"age": rng.normal(40, 10, n) + shift * 10, "income": rng.normal(0, 1, n)},
    )


@pytest.fixture
def sidecar():
    loop = EventLoopThread("test-api")
    api = HttpApi("127.0.0.1:0")
    ctx = ComponentContext(
        name="drift",
        state=StateStore(":memory:"),
        meter_provider=MeterProvider(),
        logger_provider=LoggerProvider(),
        log=logging.getLogger("test.drift"),
        settings={"trace_url_template": "http://tempo/trace/{trace_id}"},
        http_api=api,
    )
    factory = DriftFactory()
    proc = factory.create(
        factory.config_from_dict({"baseline": {"warmup": 1000}, "window": {"size": 1000}}), ctx
    )
    proc.start()
    api.add_get("/not-drift", lambda q: {"hello": "world"})
    api.start(loop)
    yield proc, f"http://127.0.0.1:{api.port}"
    proc.shutdown()
    api.shutdown()
    loop.stop()


def feed(proc, shift: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    proc.process(TelemetryRequest(signal=Signal.TRACES, raw=None, records=[batch(rng, 1000, 0.0)]))
    proc.process(TelemetryRequest(signal=Signal.TRACES, raw=None, records=[batch(rng, 1000, shift)]))
    proc.flush()


def test_table_lists_drifted_feature_first_with_trace_ids_and_links(sidecar, capsys, monkeypatch):
    monkeypatch.delenv("OTELML_TRACE_URL_TEMPLATE", raising=False)
    proc, url = sidecar
    feed(proc, shift=1.0)
    assert main(["drift", "--url", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:7] == ["MODEL", "VERSION", "FEATURE", "METHOD", "SCORE", "THRESHOLD", "DRIFT"]
    first = lines[1].split()
    assert first[:4] == ["credit", "7", "age", "wasserstein"] and first[6] == "YES"
    answer = proc.query({})
    row = next(r for r in answer["drift"] if r["feature"] == "age" and r["method"] == "wasserstein")
    traces = [e["trace_id"] for e in row["exemplars"]]
    assert traces[0] in lines[1]
    assert lines[1].endswith(f"http://tempo/trace/{traces[0]}")  # the sidecar's template
    income = [x for x in lines if x.split()[2] == "income"]
    assert income and all(x.split()[6] == "no" for x in income)

    # flag beats env beats the sidecar's template
    monkeypatch.setenv("OTELML_TRACE_URL_TEMPLATE", "http://env/{trace_id}")
    assert main(["drift", "--url", url, "--model", "credit"]) == 0
    assert f"http://env/{traces[0]}" in capsys.readouterr().out
    assert main(["drift", "--url", url, "--trace-url-template", "http://jaeger:16686/trace/{trace_id}"]) == 0
    assert f"http://jaeger:16686/trace/{traces[0]}" in capsys.readouterr().out


def test_table_shows_alerting_methods_unless_all_methods(sidecar, capsys):
    """`psi 0.9 threshold 0.2 DRIFT no` read as a contradiction: reporting-only methods hidden by default."""
    proc, url = sidecar
    feed(proc, shift=1.0)
    answer = proc.query({})["drift"]
    alerting = {(r["feature"], r["method"]) for r in answer if r["alerting"]}
    reporting = {(r["feature"], r["method"]) for r in answer if not r["alerting"]}
    assert alerting == {("age", "wasserstein"), ("income", "wasserstein")}  # the numeric default
    assert {"psi", "ks"} <= {m for _, m in reporting}
    assert any(r["over_threshold"] and not r["drifted"] for r in answer)  # the confusing case exists
    assert main(["drift", "--url", url]) == 0
    shown = {(x.split()[2], x.split()[3]) for x in capsys.readouterr().out.splitlines()[1:]}
    assert shown == alerting
    assert main(["drift", "--url", url, "--all-methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["ALERTS", "MODEL"]
    rows = lines[1:]
    assert len(rows) == len(answer)
    assert all(x.startswith("report only") == ("wasserstein" not in x) for x in rows)


def test_json_format_is_the_sidecar_answer(sidecar, capsys):
    import json

    proc, url = sidecar
    feed(proc, shift=0.0)
    assert main(["drift", "--url", url, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["drift"] == proc.query({})["drift"]
    assert not any(r["drifted"] for r in data["drift"])


def test_nothing_scored_yet(sidecar, capsys):
    _, url = sidecar
    assert main(["drift", "--url", url]) == 0
    assert "no drift scores yet" in capsys.readouterr().out


def test_unknown_model_is_a_404_naming_known_models(sidecar, capsys):
    proc, url = sidecar
    feed(proc, shift=0.0)
    assert main(["drift", "--url", url, "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert f"{url}/v1/drift?model=nope: HTTP 404" in err


def test_unreachable_sidecar_exits_2_naming_the_url(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["drift", "--url", f"http://127.0.0.1:{port}", "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the otelml sidecar at http://127.0.0.1:{port}/v1/drift" in err


def test_something_else_than_a_sidecar_exits_2(sidecar, capsys):
    _, url = sidecar
    # "<url>/not-drift?/v1/drift" reaches a JSON route that is not the drift API
    assert main(["drift", "--url", url + "/not-drift?"]) == 2
    err = capsys.readouterr().err
    assert f"{url}/not-drift?/v1/drift: the answer has no 'drift' list; is this an otelml sidecar?" in err
