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
