"""`make demo`: the whole otelml flow on 127.0.0.1, on embedded defaults, in a few minutes.

1. trains the example credit-risk model, registers it in a local MLflow Model Registry (SQLite) as
   `credit_risk@champion`, builds its baseline with `otelml baseline build` and writes the customers'
   profiles as the source of a Feast feature view;
2. starts a downstream OTLP backend (the third-party `oteltap` receiver, printing NDJSON), the otelml
   sidecar (ml_extract + drift with the baseline file, predictions, performance), the model service
   (loads the model from the registry) and the gateway (applies and materializes the Feast repository,
   SQLite online store; Feast pins pandas < 3, so it runs on the Feast environment's Python, `make feast`,
   or $OTELML_FEAST_PYTHON);
3. sends applications — the first half from the training population, the second half from customers
   whose income fell and card utilization rose and who default for other reasons (concept drift) —
   then, late, records their outcomes as labels;
4. prints `otelml drift`, `otelml performance` (realized per window, from the late labels: the shifted
   window's ROC AUC falls from ~0.70 to ~0.49, while the score-based estimate cannot see it) and the
   predictions behind the strongest drift (`otelml drift --explain`), then follows the strongest
   alert's exemplar prediction end to end with `otelml trace`: every span of its trace across both
   services, with its label; finally the alert log records that reached the backend.
5. prints the URL of the sidecar's web UI and, when run in a terminal, keeps everything serving until
   Ctrl-C (`--no-serve`, or a run without a terminal on stdin, goes straight on to stop).

Everything it starts is stopped at the end; logs and artifacts are under examples/.artifacts/demo.
Exit code 0 when the shifted features were flagged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from examples.credit_data import default_labels
from examples.credit_model import MODEL_NAME, register
from examples.feature_store import customer_profiles, write_profiles

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "examples" / ".artifacts" / "demo"
PY = sys.executable
FEATURE_REPO = WORK / "feature_repo"
HASH_SALT = "demo-salt"


def feast_python() -> str:
    """The interpreter of the Feast environment (`make feast`), which runs the gateway."""
    for candidate in (os.environ.get("OTELML_FEAST_PYTHON"), str(ROOT / ".venv-feast" / "bin" / "python")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("demo: the Feast environment is missing: run `make feast` (or set OTELML_FEAST_PYTHON)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"demo: {url} did not come up within {timeout:.0f}s (logs in {WORK})")


def start(stack: ExitStack, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a process with its output in WORK/<name>.log; SIGTERM it when the stack closes."""
    log = (WORK / f"{name}.log").open("wb")
    # own session: Ctrl-C in the terminal reaches the demo only, which then stops everything in order
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()

    stack.callback(stop)
    return proc


def sidecar_config(ports: dict[str, int], baseline: Path, window: int) -> dict[str, Any]:
    backend = f"http://127.0.0.1:{ports['backend']}"
    grpc, http = f"127.0.0.1:{ports['grpc']}", f"127.0.0.1:{ports['http']}"
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": grpc}, "http": {"endpoint": http}}}},
        "processors": {
            "ml_extract": {},
            "drift": {"baseline": {"path": str(baseline)}, "window": {"size": window, "seconds": 0}},
            "predictions": {"retention": "24h"},
            "performance": {
                "window": {"size": window},
                "baseline": {"warmup": window},
                "thresholds": {"roc_auc": 0.05, "f1": 0.05},
            },
            "diagnose": {},
            "canary": {"min_samples": CANARY_CALLS, "min_labels": 100},
        },
        "exporters": {"otlp": {"endpoint": backend, "protocol": "http/protobuf"}},
        "service": {
            "http": {"endpoint": f"127.0.0.1:{ports['api']}"},
            "telemetry": {"metrics": {"interval": "2s"}},
        },
        "state": {"path": str(WORK / "sidecar-state")},
    }


def build_artifacts() -> tuple[str, Path]:
    """Register the model in MLflow and build its baseline; returns the registered version and the file."""
    training_csv, baseline = WORK / "train.csv", WORK / "baseline.json"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'mlflow.db'}"
    auc, version = register(training_csv=training_csv)
    build = ["baseline", "build", str(training_csv), "--model", MODEL_NAME, "--version", version]
    subprocess.run([PY, "-m", "otelml.cli", *build, "--exclude", "defaulted", "--out", str(baseline)],
                   check=True, cwd=ROOT)  # fmt: skip
    print(f"      holdout ROC AUC {auc:.3f}; registered {MODEL_NAME} version {version} as @champion "
          f"({os.environ['MLFLOW_TRACKING_URI']}); baseline {baseline.relative_to(ROOT)}")
    return version, baseline


def start_stack(stack: ExitStack, ports: dict[str, int], baseline: Path, window: int) -> Any:
    config = WORK / "sidecar.yaml"
    config.write_text(yaml.safe_dump(sidecar_config(ports, baseline, window)))
    start(stack, "backend", [PY, "-u", "-m", "oteltap", "--port", str(ports["backend"])], {})
    sidecar = start(stack, "sidecar", [PY, "-m", "otelml_collector", "--config", str(config)], {})
    wait_http(f"http://127.0.0.1:{ports['api']}/healthz")
    env = service_env(ports)
    model_app = [PY, "-m", "uvicorn", "examples.model_service:app", "--port", str(ports["model"])]
    start(stack, "model-service", model_app, env | {"OTEL_SERVICE_NAME": "credit-model"})
    gateway_app = [feast_python(), "-m", "uvicorn", "examples.gateway:app", "--port", str(ports["gateway"])]
    start(stack, "gateway", gateway_app, env | {
        "OTEL_SERVICE_NAME": "credit-gateway",
        "MODEL_SERVICE_URL": f"http://127.0.0.1:{ports['model']}",
        "OTELML_FEATURE_REPO": str(FEATURE_REPO),
        "OTELML_HASH_FEATURES": "customer_id",  # the Feast entity key is captured hashed, not in clear
        "OTELML_HASH_SALT": HASH_SALT,
    })  # fmt: skip
    wait_http(f"http://127.0.0.1:{ports['model']}/docs")
    wait_http(f"http://127.0.0.1:{ports['gateway']}/docs")
    return sidecar


def service_env(ports: dict[str, int]) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['grpc']}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
    }


def send_traffic(ports: dict[str, int], normal: pd.DataFrame, shifted: pd.DataFrame) -> None:
    """Applications to the gateway, then their outcomes as labels from this process (the feedback job)."""
    os.environ.update(service_env(ports) | {"OTEL_SERVICE_NAME": "credit-feedback"})
    from opentelemetry import trace

    import otelml.auto  # noqa: F401  (label spans go to the sidecar like the services' spans)
    from examples.feedback import Outcome, record_outcomes
    from examples.traffic import send

    gateway = f"http://127.0.0.1:{ports['gateway']}"
    sent = send(gateway, normal) + send(gateway, shifted)
    print(f"      decisions: {dict(Counter(s['decision'] for s in sent))}")
    outcomes = [*default_labels(normal), *default_labels(shifted, seed=2, shift=1.0)]  # concept drift too
    recorded = record_outcomes(
        Outcome(s["prediction_id"], int(y), s["sent_at"], s["model_version"], s["traceparent"])
        for s, y in zip(sent, outcomes, strict=True)
    )
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    print(f"      recorded {recorded} outcome labels")


def hex_id(value: object) -> str:
    """A trace/span id as hex, whether the JSON has hex (OTLP/JSON) or base64 (proto3 JSON)."""
    text = str(value or "")
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    return base64.b64decode(text).hex() if text else ""


def attributes(record: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values()), None) for a in record.get("attributes", [])}


def report_backend(path: Path) -> int:
    """What reached the backend: the drift alert log records."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    spans = [r for r in records if "spanId" in r and "name" in r and "severityNumber" not in r]
    alerts = [r for r in records if "severityNumber" in r and "ml.drift.score" in attributes(r)]
    alerts.sort(key=lambda r: -float(attributes(r)["ml.drift.score"]))
    print(f"\nthe backend received {len(spans)} spans and {len(alerts)} drift alert log records")
    for alert in alerts[:6]:
        a = attributes(alert)
        score = f"{a['ml.drift.method']} {float(a['ml.drift.score']):.3f} > {a['ml.drift.threshold']}"
        print(f"  ALERT {a['ml.feature.name']:<12} {score:<24} trace {hex_id(alert.get('traceId'))}")
    flagged = {attributes(a)["ml.feature.name"] for a in alerts}
    return 0 if {"income", "utilization"} <= flagged else 1


def strongest_exemplar(api: str) -> tuple[str, str] | None:
    """(feature, prediction id) of the first exemplar of the strongest drifted score, from the sidecar."""
    with urllib.request.urlopen(f"{api}/v1/drift?model={MODEL_NAME}", timeout=10) as resp:
        rows = [r for r in json.loads(resp.read())["drift"] if r["drifted"] and r["exemplars"]]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["score"] / r["threshold"] if r["threshold"] else r["score"])
    trace_id = top["exemplars"][0]["trace_id"]
    with urllib.request.urlopen(f"{api}/v1/traces/{trace_id}", timeout=10) as resp:
        return top["feature"], json.loads(resp.read())["prediction_ids"][0]


def follow(api: str) -> None:
    cli = [PY, "-m", "otelml.cli"]
    print("\nperformance per window, realized from the late labels (otelml performance):\n")
    subprocess.run([*cli, "performance", "--model", MODEL_NAME, "--url", api], cwd=ROOT, check=False)
    found = strongest_exemplar(api)
    if found is None:
        print("no drifted feature with an exemplar: nothing to follow")
        return
    feature, pid = found
    print(f"\nthe predictions behind the drift of {feature} (otelml drift --explain {feature}):\n")
    explain = [*cli, "drift", "--model", MODEL_NAME, "--explain", feature, "--url", api]
    subprocess.run(explain, cwd=ROOT, check=False)
    print(f"\nfollowing the strongest alert's exemplar prediction (otelml trace {pid}):\n")
    subprocess.run([*cli, "trace", pid, "--url", api], cwd=ROOT, check=False)


def serve(api: str, interactive: bool) -> None:
    """Print where to look; in a terminal keep the stack up until Ctrl-C."""
    print(f"\nthe web UI: {api}/ui/  (the drifted model: {api}/ui/models/{MODEL_NAME})")
    if not interactive:
        return
    print("serving the sidecar, the services and the web UI; press Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping ...")


CANARY_CALLS = 300


def triage(api: str, champion: str) -> None:
    """`otelml diagnose` on the incident, then a canary: a retrained model, registered in MLflow as the
    next version (the alias stays on the champion), scores CANARY_CALLS applications (same mix and
    outcomes as the service saw) beside the champion, and `otelml canary` judges it. Scored in this
    process, which `send_traffic` instrumented."""
    import mlflow.sklearn
    from opentelemetry import trace

    import otelml
    from examples.credit_data import applications

    cli = [PY, "-m", "otelml.cli"]
    print("\nis it the data, the model or the system? (otelml diagnose)\n")
    diagnose = [*cli, "diagnose", "--model", MODEL_NAME, "--since", "1h", "--url", api]
    subprocess.run(diagnose, cwd=ROOT, check=False)
    _, version = register(seed=7, alias=None)
    candidate = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
    otelml.register_model(candidate, name=MODEL_NAME, version=version, role="canary")
    half = CANARY_CALLS // 2
    normal, shifted = applications(half, seed=21), applications(half, seed=22, shift=1.0)
    frame = pd.concat([normal, shifted]).reset_index(drop=True)
    truth = [*default_labels(normal, seed=23), *default_labels(shifted, seed=24, shift=1.0)]
    for i in range(len(frame)):
        with otelml.prediction():
            candidate.predict_proba(frame.iloc[i : i + 1])
            otelml.record_label(otelml.current_prediction_id(), int(truth[i]), model=MODEL_NAME)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    time.sleep(3)
    print(f"\ncanary: {MODEL_NAME} version {version} against the champion {champion} (otelml canary)\n")
    subprocess.run([*cli, "canary", "--model", MODEL_NAME, "--baseline", champion, "--candidate", version,
                    "--since", "1h", "--url", api], cwd=ROOT, check=False)  # fmt: skip


def stop_own_telemetry() -> None:
    """Flush and stop the providers `otelml.auto` set up in this process (labels, the canary's spans)."""
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="applications to send (half shifted)")
    parser.add_argument("--window", type=int, default=1000, help="drift window size (observations)")
    parser.add_argument("--no-serve", action="store_true",
                        help="stop at the end even in a terminal (default there: serve the UI until Ctrl-C)")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    ports = {name: free_port() for name in ("grpc", "http", "api", "backend", "model", "gateway")}

    print(f"[1/4] training {MODEL_NAME}, registering it in MLflow and building its baseline ...")
    champion, baseline = build_artifacts()
    half = args.requests // 2
    normal, shifted = customer_profiles(half, shift=1.0)
    write_profiles(FEATURE_REPO, pd.concat([normal, shifted]))
    with ExitStack() as stack:
        print("[2/4] starting the backend (oteltap), the sidecar, the model service and the gateway "
              "(Feast apply + materialize) ...")
        sidecar = start_stack(stack, ports, baseline, args.window)
        print(f"[3/4] sending {half} applications, then {half} from a shifted population ...")
        send_traffic(ports, normal, shifted)
        time.sleep(8)  # the services' batch span exporters and the sidecar's metric export run
        print("[4/4] what the sidecar found (otelml drift):\n")
        api = f"http://127.0.0.1:{ports['api']}"
        subprocess.run([PY, "-m", "otelml.cli", "drift", "--url", api], cwd=ROOT, check=False)
        follow(api)
        triage(api, champion)
        serve(api, interactive=sys.stdin.isatty() and not args.no_serve)
        stop_own_telemetry()  # this process exports to the sidecar too: stop that before the sidecar
        sidecar.send_signal(signal.SIGTERM)  # flushes windows, metrics and logs downstream
        sidecar.wait(timeout=60)
        time.sleep(1)
    status = report_backend(WORK / "backend.log")
    print(f"\nlogs, the sidecar's state and the backend's NDJSON: {WORK.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
