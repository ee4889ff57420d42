"""``import otelml.auto`` in fresh interpreters: providers from OTEL_* variables, never over the app's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    # sklearn's import dominates start-up; only the instrumentor test needs it
    env.update(PYTHONPATH=str(ROOT), OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sklearn")
    env.update(env_vars)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=60)


def _last_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_exports_over_otlp_configured_only_by_env(otlp_receiver: Any) -> None:
    done = _run(
        """
        import json, otelml.auto, otelml
        from opentelemetry import trace
        with otelml.inference(model="scorer", version="4") as h:
            pass
        trace.get_tracer_provider().shutdown()
        print(json.dumps({"configured": otelml.auto.state.configured, "pid": h.prediction_id}))
        """,
        OTEL_SERVICE_NAME="auto-test",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    out = _last_json(done)
    assert out["configured"] == ["traces", "metrics", "logs"]
    (span,) = otlp_receiver.wait_for(lambda s: len(s) >= 1)
    assert span["service"] == "auto-test"
    assert span["name"] == "inference scorer"
    assert span["attributes"]["ml.prediction.id"] == out["pid"]
    assert span["attributes"]["ml.model.version"] == "4"


def test_application_providers_are_kept_and_propagator_composited() -> None:
    done = _run(
        """
        import json
        from opentelemetry import trace, propagate
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        app_provider = TracerProvider()
        app_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(app_provider)
        import otelml.auto, otelml
        with otelml.postprocess(step="s"):
            pass
        print(json.dumps({
            "same_provider": trace.get_tracer_provider() is app_provider,
            "configured": otelml.auto.state.configured,
            "spans": [s.name for s in exporter.get_finished_spans()],
            "propagators": [type(p).__name__ for p in propagate.get_global_textmap()._propagators],
        }))
        """,
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    out = _last_json(done)
    assert out["same_provider"] is True
    assert "traces" not in out["configured"]
    assert out["spans"] == ["postprocess s"]
    assert out["propagators"] == ["TraceContextTextMapPropagator", "W3CBaggagePropagator",
                                  "PredictionIdPropagator"]


def test_instrumentors_found_by_entry_point_and_can_be_disabled() -> None:
    code = """
        import json, otelml.auto
        print(json.dumps({"instrumented": otelml.auto.state.instrumented,
                          "skipped": otelml.auto.state.skipped}))
        """
    on = _last_json(_run(code, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
                         OTEL_LOGS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=""))
    assert "sklearn" in on["instrumented"]
    off = _last_json(_run(code, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
                          OTEL_LOGS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sklearn"))
    assert "sklearn" not in off["instrumented"]
    assert off["skipped"]["sklearn"] == "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def test_unknown_exporter_is_reported_and_the_app_goes_on() -> None:
    done = _run(
        """
        import json, otelml.auto, otelml
        with otelml.inference(model="m") as h:
            pass
        print(json.dumps({"configured": otelml.auto.state.configured, "pid": h.prediction_id}))
        """,
        OTEL_TRACES_EXPORTER="no-such-exporter",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    out = _last_json(done)
    assert "traces" not in out["configured"]
    assert out["pid"]
    assert "OTEL_TRACES_EXPORTER='no-such-exporter'" in done.stderr


def test_sdk_disabled_configures_nothing() -> None:
    out = _last_json(_run("import json, otelml.auto; print(json.dumps(otelml.auto.state.configured))",
                          OTEL_SDK_DISABLED="true"))
    assert out == []


def test_works_with_no_provider_configured() -> None:
    done = _run(
        """
        import asyncio, json, otelml

        @otelml.inference(model="m")
        def predict(x):
            return x + 1

        @otelml.postprocess(step="p")
        async def post(x):
            return x * 10

        with otelml.prediction() as scope:
            with otelml.feature_lookup(view="v") as fl:
                fl.set_freshness(3)
            y = predict(1)
            z = asyncio.run(post(y))
            pid = otelml.current_prediction_id()
            same = pid == scope.id
        try:
            with otelml.inference(model="m"):
                raise LookupError("kept")
        except LookupError as exc:
            err = str(exc)
        otelml.record_label(pid, 1)
        print(json.dumps({"y": y, "z": z, "pid": pid, "same": same, "err": err}))
        """
    )
    out = _last_json(done)
    assert out["y"] == 2 and out["z"] == 20 and out["same"] is True and out["err"] == "kept"
    assert len(out["pid"]) == 32
    assert "otelml:" not in done.stderr  # nothing failed inside otelml


def test_propagator_entry_point_for_otel_propagators() -> None:
    # Without otelml.auto: the SDK's own OTEL_PROPAGATORS handling finds the "otelml" entry point.
    out = _last_json(_run(
        """
        import json, otelml
        from opentelemetry import propagate
        with otelml.prediction(id="p-ep"):
            carrier = {}
            propagate.inject(carrier)
        import otelml.auto  # must not add a second copy
        print(json.dumps({"carrier": carrier,
                          "names": [type(p).__name__ for p in propagate.get_global_textmap()._propagators]}))
        """,
        OTEL_PROPAGATORS="tracecontext,baggage,otelml", OTEL_SDK_DISABLED="true",
    ))
    assert out["carrier"] == {"baggage": "ml.prediction.id=p-ep"}
    assert out["names"] == ["TraceContextTextMapPropagator", "W3CBaggagePropagator", "PredictionIdPropagator"]


def test_all_three_signals_over_otlp_http(otlp_http_receiver: Any) -> None:
    """http/protobuf: the inference span, its metrics (exemplar = that span) and the prediction log."""
    done = _run(
        """
        import json, numpy as np, otelml.auto, otelml
        from opentelemetry import trace, metrics, _logs
        with otelml.inference(model="credit", version="2", task="classification") as h:
            h.set_features(np.array([[0.5, 7.0]]), ["income", "tenure"])
            h.set_prediction(np.array(["approve"]), np.array([0.9]))
        ctx = h.span.get_span_context()
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider(),
                         _logs.get_logger_provider()):
            provider.shutdown()
        print(json.dumps({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
                          "pid": h.prediction_id}))
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_http_receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="http-test",
        OTELML_LOG_PREDICTIONS="true",
    )
    out = _last_json(done)
    received = otlp_http_receiver.requests

    (span,) = [s for r in received["traces"] for rs in r.resource_spans for ss in rs.scope_spans
               for s in ss.spans]
    assert span.trace_id.hex() == out["trace_id"]
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["ml.feature.income"].double_value == 0.5
    assert attrs["ml.prediction.value"].string_value == "approve"

    metrics_by_name = {m.name: m for r in received["metrics"] for rm in r.resource_metrics
                       for sm in rm.scope_metrics for m in sm.metrics}
    (duration,) = metrics_by_name["ml.inference.duration"].histogram.data_points
    assert duration.count == 1
    (exemplar,) = duration.exemplars
    assert (exemplar.trace_id.hex(), exemplar.span_id.hex()) == (out["trace_id"], out["span_id"])
    (count,) = metrics_by_name["ml.predictions"].sum.data_points
    assert count.as_int == 1
    assert {kv.key: kv.value.string_value for kv in count.attributes}["ml.prediction.class"] == "approve"

    records = [lr for r in received["logs"] for rl in r.resource_logs for sl in rl.scope_logs
               for lr in sl.log_records]
    (record,) = records
    assert record.trace_id.hex() == out["trace_id"]
    assert record.event_name == "ml.prediction"
    body = {kv.key: kv.value for kv in record.body.kvlist_value.values}
    features = {kv.key: kv.value.double_value for kv in body["features"].kvlist_value.values}
    assert features == {"ml.feature.income": 0.5, "ml.feature.tenure": 7.0}
