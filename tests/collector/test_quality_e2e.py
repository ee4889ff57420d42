"""The same expectations file online: a real sidecar subprocess (ml_extract + quality) receives real OTLP
spans from the OTel SDK's gRPC exporter and sends `ml.data_quality.violations` (exemplars = violating
predictions' trace ids) and a WARN log record with such a trace id to a third-party receiver (oteltap)."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.support import sidecar_config, wait_until

pytestmark = pytest.mark.e2e

EXPECTATIONS = """\
columns:
  age:
    not_null: true
    between: {min: 18, max: 100}
  country:
    in_set: [US, DE, FR]
"""


def _attrs(kvs) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


def test_violations_reach_the_backend_with_violating_trace_ids(tmp_path, sidecar, otlp_sink):
    (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
    config = sidecar_config(
        tmp_path, downstream=otlp_sink.endpoint,
        processors={"ml_extract": {}, "quality": {"expectations": str(tmp_path / "expectations.yaml"),
                                                  "window": {"size": 100_000, "seconds": 0}}},
        service={"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["ml_extract", "quality"],
                                          "exporters": ["otlp"]}}},
    )
    sc = sidecar(config)
    provider = TracerProvider(resource=Resource.create({"service.name": "credit-api"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sc.grpc_endpoint, insecure=True),
                                                   schedule_delay_millis=100))
    tracer = provider.get_tracer("credit-api")
    rng = np.random.default_rng(5)
    bad_age, bad_country = {}, {}
    for i in range(300):
        age = float(rng.normal(45, 10))
        country = ["US", "DE", "FR"][i % 3]
        if i % 60 == 7:
            age = 150.0 + i
        if i in (11, 12):
            country = "Atlantis"
        attrs = {"ml.operation.name": "inference", "ml.model.name": "credit", "ml.model.version": "3",
                 "ml.feature.age": age, "ml.feature.country": country, "ml.prediction.score": 0.5}
        with tracer.start_as_current_span("inference credit", attributes=attrs) as span:
            tid = span.get_span_context().trace_id
            if age > 100:
                bad_age[tid] = age
            if country == "Atlantis":
                bad_country[tid] = country
    assert provider.force_flush(30_000)
    provider.shutdown()

    def violations():
        points = {}
        for m in list(otlp_sink.metrics):
            if m.name == "ml.data_quality.violations":
                for p in m.sum.data_points:
                    a = _attrs(p.attributes)
                    key = (a["ml.feature.name"], a["ml.data_quality.expectation"])
                    ex = {int.from_bytes(e.trace_id, "big") for e in p.exemplars}
                    prev = points.get(key, (0, set()))
                    points[key] = (max(prev[0], p.as_int), prev[1] | ex)
                    assert a["ml.model.name"] == "credit" and a["ml.model.version"] == "3"
        return points

    points = wait_until(lambda: (v := violations()).get(("age", "between"), (0,))[0] == 5 and v,
                        timeout=20, what="5 age violations at the receiver")
    assert set(points) == {("age", "between"), ("country", "in_set")}
    _, exemplars = points[("age", "between")]
    assert exemplars and exemplars <= set(bad_age)
    assert points[("country", "in_set")][0] == 2 and points[("country", "in_set")][1] <= set(bad_country)

    logs = wait_until(
        lambda: [r for r in list(otlp_sink.logs) if r.event_name == "ml.data_quality.violation"],
        timeout=20, what="violation log records")
    by = {_attrs(r.attributes)["ml.feature.name"]: r for r in logs}
    assert by["age"].severity_text == "WARN"
    assert int.from_bytes(by["age"].trace_id, "big") in bad_age
    assert int.from_bytes(by["country"].trace_id, "big") in bad_country
    assert "credit version 3: country: in_set violated" in by["country"].body.string_value
    assert len(otlp_sink.wait_spans(300)) >= 300  # forwarded untouched alongside
