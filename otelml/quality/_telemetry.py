"""Telling others about a validation run: OTLP (a log record and two counters) and a Slack-compatible
webhook. Both are best effort: a failure is reported on the returned list, never raised.

OTLP is used when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the `_LOGS_`/`_METRICS_` variant) is set; the
protocol comes from `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `grpc`), the
resource from `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` (service name `otelml-validate` when
unset). `OTEL_SDK_DISABLED=true` turns it off.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from otelml.quality._model import Result

__all__ = ["RUN_ATTRS", "otlp_configured", "post_webhook", "send_otlp", "slack_message", "violation_count"]

RUNS_METRIC = "ml.data_quality.runs"
VIOLATIONS_METRIC = "ml.data_quality.violations"
RUN_ATTRS = ("ml.data_quality.status", "ml.data_quality.dataset", "ml.data_quality.suite")


def otlp_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(f"OTEL_EXPORTER_OTLP{s}_ENDPOINT") for s in ("", "_LOGS", "_METRICS"))


def violation_count(r: dict[str, Any]) -> int:
    """Unexpected values of a row check, or 1 for a failed aggregate/table check (same rule online)."""
    count = int(r.get("unexpected_count") or 0)
    return count if count else (0 if r["success"] else 1)


def _protocol(signal: str) -> str:
    env = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    return env.strip().lower()


def _exporters() -> tuple[Any, Any]:
    # A gate must not hang on a dead collector: 5 s per signal unless OTEL_EXPORTER_OTLP_TIMEOUT is set.
    timeout = None if os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") else 5
    if _protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
    from otelml import _lifecycle  # the logs signal is private in OpenTelemetry: through the lifecycle

    logs = _lifecycle.otlp_log_exporter(_protocol("LOGS") == "grpc", timeout)
    return logs, OTLPMetricExporter(timeout=timeout)


def send_otlp(report: dict[str, Any], *, status: str, run_id: str, dataset: str, suite: str) -> list[str]:
    """Emit the run: one log record (WARN when it failed or errored, INFO when it passed) and the counters
    `ml.data_quality.runs` {status, dataset, suite} and `ml.data_quality.violations` {dataset, suite,
    ml.feature.name, ml.data_quality.expectation}, each exported once. Returns problems, if any."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
        from opentelemetry.sdk.resources import Resource

        from otelml import __version__, _lifecycle

        attrs = {"service.version": __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attrs["service.name"] = "otelml-validate"
        resource = Resource.create(attrs)
        log_exporter, metric_exporter = _exporters()
    except Exception as exc:
        return [f"OTLP export not configured: {exc}"]
    # Record with the SDK into memory, then export each signal once and check the outcome.
    reader = InMemoryMetricReader()
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    logs, captured = _lifecycle.log_recorder(resource)
    base = {"ml.data_quality.dataset": dataset, "ml.data_quality.suite": suite}
    problems: list[str] = []
    try:
        meter = meters.get_meter("otelml.quality")
        meter.create_counter(RUNS_METRIC, unit="{run}", description="Data-quality validation runs").add(
            1, {**base, "ml.data_quality.status": status})
        violations = meter.create_counter(
            VIOLATIONS_METRIC, unit="{violation}",
            description="Unexpected values (row checks) or failed checks (aggregates), per expectation")
        results = report.get("results", [])
        for r in results:
            n = violation_count(r)
            if n:
                violations.add(n, {**base, "ml.feature.name": r.get("column") or "",
                                   "ml.data_quality.expectation": r.get("ge_type") or r["expectation"]})
        failed = [f"{r.get('column') or 'table'}: {r.get('ge_type') or r['expectation']}"
                  for r in results if not r["success"]]
        body = f"data quality {status}: {dataset}"
        if failed:
            body += f" ({len(failed)} of {len(results)} expectations failed: {', '.join(failed[:10])})"
        if report.get("error"):
            body += f": {report['error']}"
        _lifecycle.emit_log(
            logs, "otelml.quality", body=body, warning=status != "passed", event_name="ml.data_quality.run",
            attributes={**base, "ml.data_quality.status": status, "ml.data_quality.run_id": run_id,
                        "ml.data_quality.rows": int(report.get("row_count") or 0),
                        "ml.data_quality.evaluated": len(results),
                        "ml.data_quality.failed": len(failed),
                        "ml.data_quality.failed_expectations": failed[:50]})
        if not _lifecycle.export_logs(log_exporter, captured):
            problems.append("OTLP log export failed (see the exporter's message above)")
        data = reader.get_metrics_data()
        if data is not None and metric_exporter.export(data) != MetricExportResult.SUCCESS:
            problems.append("OTLP metric export failed (see the exporter's message above)")
    except Exception as exc:
        problems.append(f"OTLP export failed: {exc}")
    finally:
        for component in (meters, logs, log_exporter, metric_exporter):
            try:
                component.shutdown()
            except Exception:
                pass
    return problems


def slack_message(result: Result | None, *, status: str, dataset: str, suite: str, run_id: str,
                  error: str | None = None, max_lines: int = 10) -> dict[str, Any]:
    """A Slack incoming-webhook payload (`text` plus mrkdwn `blocks`) describing a failed run."""
    head = f":rotating_light: Data-quality gate {status.upper()}: `{dataset}` against `{suite}`"
    lines = []
    if result is not None:
        stats = result.statistics
        head += (f" — {stats['unsuccessful']} of {stats['evaluated']} expectations failed on "
                 f"{result.row_count} rows")
        for r in result.failed[:max_lines]:
            obs = json.dumps(r.to_dict()["observed_value"])
            extra = (f", {r.unexpected_count} unexpected ({r.unexpected_percent:.2f}%)"
                     if r.unexpected_count else "")
            ex = f", e.g. row {r.examples[0].row}: {r.examples[0].value!r}" if r.examples else ""
            lines.append(f"• *{r.expectation.label}*: observed {obs}{extra}{ex}"
                         + (f" — {r.message}" if r.message and not r.examples else ""))
        if len(result.failed) > max_lines:
            lines.append(f"• … and {len(result.failed) - max_lines} more")
    if error:
        lines.append(f"• error: {error}")
    text = "\n".join([head, *lines, f"run id: {run_id}"])
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> list[str]:
    """POST `payload` as JSON; returns a problem description if the hook did not answer 2xx."""
    if not url.startswith(("http://", "https://")):
        return [f"--alert-webhook {url!r}: not an http(s) URL"]
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        return [f"alert webhook {url} answered HTTP {exc.code}"]
    except (urllib.error.URLError, OSError) as exc:
        return [f"alert webhook {url} unreachable: {getattr(exc, 'reason', exc)}"]
    return []
