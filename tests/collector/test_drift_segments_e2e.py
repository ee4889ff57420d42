"""Segmented drift as a user sees it (issue 11, `drift.segments`).

A reference table with a `region` column is profiled by `otelml baseline build --segment region`; a
real sidecar subprocess loads that file and receives OTLP/gRPC from a service process that uses the
otelml library (`otelml.inference(...)` + `set_segment("region", ...)`). In the live traffic only the
`us` rows shift feature f1 by one standard deviation. The `us` segment's window alerts on f1 and only
on f1, the `eu` segment's window alerts on nothing; the alert log record and the drift gauge points at
the downstream OTLP receiver carry `ml.segment.region`; `/v1/drift` rows and `otelml drift` name the
segment; each segment's scores equal scipy's on the same rows (reference rows of that region vs the
window's rows of that region).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings
from scipy import stats as sps

from tests.collector.test_drift_e2e import ROOT, Sidecar, free_port, wait_until

pytestmark = pytest.mark.e2e

MODEL, VERSION = "credit", "7"
FEATURES = ["f0", "f1", "f2", "f3"]
SHIFTED = "f1"
REF_ROWS, LIVE_PER_REGION = 6000, 2000

CLIENT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import otelml

    provider = TracerProvider(resource=Resource.create({"service.name": "credit-api"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=sys.argv[1], insecure=True), max_queue_size=20_000,
        max_export_batch_size=512, schedule_delay_millis=100))
    trace.set_tracer_provider(provider)
    data = np.load(sys.argv[2], allow_pickle=False)
    X, regions = data["X"], data["region"]
    names = ["f0", "f1", "f2", "f3"]
    for row, region in zip(X, regions.tolist()):
        with otelml.inference(model="credit", version="7") as span:
            span.set_features(row[None, :], names)
            span.set_prediction(int(row[0] > 0), float(1 / (1 + np.exp(-row[0]))))
            span.set_segment("region", region)
    assert provider.force_flush(60_000)
    provider.shutdown()
    """
)


def write_reference(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    region = np.where(rng.random(REF_ROWS) < 0.5, "eu", "us")
    X = rng.normal(0.0, 1.0, (REF_ROWS, len(FEATURES)))
    X[region == "us", 2] += 0.5  # the regions differ already in the reference: per-segment baselines matter
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*FEATURES, "region"])
        for row, r in zip(X.tolist(), region.tolist(), strict=True):
            w.writerow([*row, r])
    return {r: X[region == r] for r in ("eu", "us")}


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'collector'}"}
    env.pop("OTELML_TRACE_URL_TEMPLATE", None)
    return subprocess.run(
        [sys.executable, "-m", "otelml.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )


class SegmentSidecar(Sidecar):
    def __init__(self, tmp: Path, tap_port: int, baseline: Path) -> None:
        super().__init__(tmp, tap_port)
        text = self.config.read_text()
        text = text.replace(
            "baseline: {warmup: 2000}",
            f'baseline: {{path: "{baseline}"}}\n    segments: [region]',
        ).replace("window: {size: 3000, seconds: 0}", f"window: {{size: {LIVE_PER_REGION}, seconds: 0}}")
        assert "segments: [region]" in text and f"size: {LIVE_PER_REGION}" in text
        self.config.write_text(text)


async def test_only_the_shifted_segment_alerts(tmp_path):
    rng = np.random.default_rng(11)
    ref_csv = tmp_path / "reference.csv"
    reference = write_reference(ref_csv, rng)
    baseline = tmp_path / "baseline.json"
    built = cli("baseline", "build", str(ref_csv), "--model", MODEL, "--version", VERSION,
                "--segment", "region", "--out", str(baseline))
    assert built.returncode == 0, built.stderr
    assert "segment 'region': 2 values" in built.stdout
    doc = json.loads(baseline.read_text())
    assert set(doc["features"]) == set(FEATURES)  # the segment column is no feature
    assert set(doc["segments"]["region"]["values"]) == {"eu", "us"}

    # live traffic: regions interleaved, only us shifted in f1
    region = np.array(["eu"] * LIVE_PER_REGION + ["us"] * LIVE_PER_REGION)
    rng.shuffle(region)
    X = rng.normal(0.0, 1.0, (len(region), len(FEATURES)))
    X[region == "us", 2] += 0.5
    X[region == "us", FEATURES.index(SHIFTED)] += 1.0
    live = tmp_path / "live.npz"
    np.savez(live, X=X, region=region)
    script = tmp_path / "client.py"
    script.write_text(CLIENT)

    tap_port = free_port()
    tap = OtelTapHttpProtobufReceiver(OtelTapHttpProtobufReceiverSettings(http_port=tap_port))
    await tap.start()
    logs, metrics = [], []

    async def collect(stream, sink):
        async for item in stream:
            sink.append(item)

    tasks = [
        asyncio.create_task(collect(tap.stream_logs(), logs)),
        asyncio.create_task(collect(tap.stream_metrics(), metrics)),
    ]
    sidecar = SegmentSidecar(tmp_path, tap_port, baseline)
    try:
        await asyncio.to_thread(sidecar.start)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'collector'}"}
        sent = await asyncio.to_thread(
            subprocess.run, [sys.executable, str(script), f"127.0.0.1:{sidecar.grpc}", str(live)],
            env=env, capture_output=True, text=True, timeout=240,
        )
        assert sent.returncode == 0, sent.stderr

        def segment_rows(answer: dict) -> dict[str, list[dict]]:
            out: dict[str, list[dict]] = {}
            for r in answer["drift"]:
                if r["segment"]:
                    out.setdefault(r["segment"]["region"], []).append(r)
            return out

        answer = await asyncio.to_thread(
            sidecar.wait_for, lambda a: set(segment_rows(a)) == {"eu", "us"}, "both segments' windows"
        )
        rows = segment_rows(answer)
        assert {r["window"]["count"] for rs in rows.values() for r in rs} == {LIVE_PER_REGION}
        assert {r["feature"] for r in rows["us"] if r["drifted"]} == {SHIFTED}
        assert not [r for r in rows["eu"] if r["drifted"]]
        statuses = {json.dumps(m["segment"]) for m in answer["models"]}
        assert {json.dumps({"region": "eu"}), json.dumps({"region": "us"}), "{}"} <= statuses

        # the scores are scipy's on the same rows
        for name in ("eu", "us"):
            for r in rows[name]:
                if r["kind"] != "feature":
                    continue
                j = FEATURES.index(r["feature"])
                ref, cur = reference[name][:, j], X[region == name][:, j]
                if r["method"] == "wasserstein":
                    expected = sps.wasserstein_distance(ref, cur) / np.std(ref, ddof=1)
                    assert r["score"] == pytest.approx(expected, abs=0.005), (name, r["feature"])
                elif r["method"] == "ks":
                    assert r["score"] == pytest.approx(sps.ks_2samp(ref, cur).statistic, abs=0.02)
        us_f1 = next(r for r in rows["us"] if r["feature"] == SHIFTED and r["method"] == "wasserstein")
        assert us_f1["score"] > 0.5  # one SD: about 0.8 of a normal's SD

        # downstream: one alert, for us/f1, carrying the segment and a trace id of a us prediction
        await wait_until(lambda: any(r.severity_number >= 13 for r in logs))
        await asyncio.sleep(0.5)
        alerts = [
            {a.key: a.value.string_value for a in r.attributes if a.value.HasField("string_value")}
            for r in logs
            if r.severity_number >= 13
        ]
        segment_alerts = [a for a in alerts if "ml.segment.region" in a]
        assert segment_alerts, alerts
        assert {(a["ml.segment.region"], a["ml.feature.name"]) for a in segment_alerts} == {("us", SHIFTED)}

        def points():
            return [
                {a.key: a.value.string_value for a in p.attributes}
                for m in metrics
                if m.name == "ml.feature.drift"
                for p in m.gauge.data_points
            ]

        await wait_until(lambda: {p.get("ml.segment.region") for p in points()} >= {"eu", "us", None})

        # the command line names the segment
        out = await asyncio.to_thread(cli, "drift", "--url", sidecar.url, "--model", MODEL)
        assert out.returncode == 0, out.stderr
        assert "SEGMENT" in out.stdout.splitlines()[0]
        line = next(x for x in out.stdout.splitlines() if "region=us" in x and f" {SHIFTED} " in x)
        assert "YES" in line
        assert not any("region=eu" in x and "YES" in x for x in out.stdout.splitlines())
    finally:
        if sidecar.proc is not None and sidecar.proc.poll() is None:
            await asyncio.to_thread(sidecar.stop)
        for t in tasks:
            t.cancel()
        await tap.stop()


def test_segment_cli_rejects_unknown_column(tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text("a,b\n1,x\n2,y\n")
    out = cli("baseline", "build", str(ref), "--model", "m", "--segment", "region", "--out",
              str(tmp_path / "b.json"))
    assert out.returncode == 2
    assert "'region' given to --segment is not in the data" in out.stderr
