"""ml_extract inside the real sidecar: the OTel SDK's OTLP/gRPC exporter sends inference spans, the
spans reach a third-party OTLP receiver (oteltap) untouched, and the extraction's own metrics
(spans, invalid values per feature, caps) arrive there too."""

from __future__ import annotations

import math

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support import sidecar_config, wait_until


def _sum_points(sink, name: str) -> dict[tuple[tuple[str, str], ...], int]:  # type: ignore[no-untyped-def]
    """Latest cumulative value per attribute set of metric `name` received by the sink."""
    points: dict[tuple[tuple[str, str], ...], int] = {}
    for metric in list(sink.metrics):
        if metric.name == name:
            for p in metric.sum.data_points:
                key = tuple(sorted((a.key, a.value.string_value) for a in p.attributes))
                points[key] = max(points.get(key, 0), p.as_int)
    return points


def test_extraction_in_the_running_sidecar(otlp_sink, sidecar, tmp_path):  # type: ignore[no-untyped-def]
    config = sidecar_config(
        tmp_path,
        downstream=otlp_sink.endpoint,
        processors={"ml_extract": {"max_categories_per_feature": 2}},
    )
    sc = sidecar(config)
    provider = TracerProvider(resource=Resource.create({"service.name": "model-svc"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{sc.grpc_endpoint}", insecure=True))
    )
    tracer = provider.get_tracer("test")
    plans = ["free", "pro", "team", "free"]  # "team" is a third category: over the cap of 2
    for i, plan in enumerate(plans):
        attrs = {
            "ml.operation.name": "inference",
            "ml.model.name": "churn",
            "ml.model.version": "7",
            "ml.feature.age": math.nan if i == 1 else 30.0 + i,
            "ml.feature.plan": plan,
            "ml.prediction.score": 0.5,
        }
        with tracer.start_as_current_span("inference churn", attributes=attrs):
            pass
    with tracer.start_as_current_span("GET /health"):
        pass
    provider.shutdown()

    spans = otlp_sink.wait_spans(5)
    inference = [s for s in spans if s.name == "inference churn"]
    assert len(inference) == 4
    plans_seen = [{a.key: a.value for a in s.attributes}["ml.feature.plan"].string_value for s in inference]
    assert sorted(plans_seen) == sorted(plans)  # forwarded as sent: the cap only affects the records

    def extracted() -> bool:
        return _sum_points(otlp_sink, "otelml_collector.extract.spans").get((), 0) == 4

    wait_until(extracted, 20, what="otelml_collector.extract.spans == 4 at the sink")
    wait_until(
        lambda: _sum_points(otlp_sink, "otelml_collector.extract.capped") == {(("cap", "categories"),): 1},
        20,
        what="one capped category at the sink",
    )
    invalid = _sum_points(otlp_sink, "otelml_collector.extract.invalid_values")
    assert invalid == {(("ml.feature.name", "age"), ("ml.model.name", "churn"), ("ml.model.version", "7")): 1}
    assert sc.status()["pipelines"]["traces"]["processor_errors"] == {}
    assert sc.stop() == 0
    log = sc.log()
    assert log.count("processors.ml_extract.max_categories_per_feature=2 reached") == 1
