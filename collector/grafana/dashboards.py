"""The otelml Grafana dashboards as code (grafana-foundation-sdk); the JSON under `dashboards/` is its output.

    python collector/grafana/dashboards.py          # rewrite dashboards/*.json
    python collector/grafana/dashboards.py --check  # exit 1 when the JSON is stale

Queries read what the sidecar serves on `/metrics` (Prometheus job `otelml-sidecar` by default). Panels
whose query has exemplars on show the sidecar's exemplars: each names the trace of an offending
prediction, and the Prometheus datasource (`provisioning/datasources/otelml.yaml`) turns its `trace_id`
into links to Tempo, Jaeger and the sidecar's `/v1/traces/{trace_id}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

HERE = Path(__file__).resolve().parent
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
JOB = 'job=~"$job"'
MODEL = JOB + ', ml_model_name=~"$model"'


def query(expr: str, legend: str = "", exemplars: bool = False, ref: str = "A") -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS).range()
    if legend:
        q = q.legend_format(legend)
    return q.exemplar(exemplars)


def series(title: str, description: str, *queries: prometheus.Dataquery, unit: str = "", width: int = 12):
    panel = timeseries.Panel().title(title).description(description).datasource(PROMETHEUS).span(width)
    panel = panel.height(8)
    for q in queries:
        panel = panel.with_target(q)
    return panel.unit(unit) if unit else panel


def model_overview() -> dashboard.Dashboard:
    job = dashboard.CustomVariable("job").label("Prometheus job").values("otelml-sidecar")
    model = (
        dashboard.QueryVariable("model").label("Model").datasource(PROMETHEUS)
        .query('label_values(ml_feature_drift{job=~"$job"}, ml_model_name)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).include_all(True).multi(True)
    )  # fmt: skip
    return (
        dashboard.Dashboard("otelml — model overview").uid("otelml-model-overview")
        .tags(["otelml", "ml"]).time("now-1h", "now").refresh("30s")
        .description("Drift, data quality, performance and alerts of the models an otelml sidecar watches; "
                     "exemplars lead to the predictions behind a signal.")
        .with_variable(job).with_variable(model)
        .with_row(dashboard.Row("Drift"))
        .with_panel(series(
            "Drift per feature", "Drift statistic of each feature per closed window (alerting methods).",
            query(f'max by (ml_model_name, ml_feature_name, ml_drift_method) '
                  f'(ml_feature_drift{{{MODEL}, ml_drift_method=~"wasserstein|js"}})',
                  "{{ml_model_name}} {{ml_feature_name}} {{ml_drift_method}}"),
        ))
        .with_panel(series(
            "Drifted windows per feature",
            "Windows in which a feature was found drifted; exemplars: an offending prediction's trace.",
            query(f"sum by (ml_model_name, ml_feature_name) "
                  f"(increase(ml_drift_detections_total{{{MODEL}}}[$__rate_interval]))",
                  "{{ml_model_name}} {{ml_feature_name}}", exemplars=True),
        ))
        .with_panel(series(
            "Prediction drift", "Drift of the model output (value and score) per closed window.",
            query(f"max by (ml_model_name, ml_feature_name, ml_drift_method) "
                  f"(ml_prediction_drift{{{MODEL}}})",
                  "{{ml_model_name}} {{ml_feature_name}} {{ml_drift_method}}"),
            width=24,
        ))
        .with_row(dashboard.Row("Performance"))
        .with_panel(series(
            "Performance: realized vs estimated",
            "Realized metrics from joined labels, estimated ones (CBPE) before labels arrive.",
            query(f"max by (ml_model_name, ml_performance_metric, ml_performance_kind) "
                  f"(ml_model_performance{{{MODEL}}})",
                  "{{ml_model_name}} {{ml_performance_metric}} {{ml_performance_kind}}"),
            query(f"sum by (ml_model_name, ml_performance_metric, ml_performance_kind) "
                  f"(increase(ml_performance_breaches_total{{{MODEL}}}[$__rate_interval]))",
                  "breach {{ml_performance_metric}} {{ml_performance_kind}}", exemplars=True, ref="B"),
        ))
        .with_panel(series(
            "Label coverage", "Share of each window's predictions that have their label.",
            query(f"max by (ml_model_name) (ml_label_coverage{{{MODEL}}})", "{{ml_model_name}}"),
            unit="percentunit",
        ))
        .with_panel(series(
            "Label delay (p50, p90)", "Time from prediction to label; exemplars: a labelled prediction.",
            query(f"histogram_quantile(0.5, sum by (le) (rate(ml_label_delay_seconds_bucket{{{MODEL}}}"
                  f"[$__rate_interval])))", "p50", exemplars=True),
            query(f"histogram_quantile(0.9, sum by (le) (rate(ml_label_delay_seconds_bucket{{{MODEL}}}"
                  f"[$__rate_interval])))", "p90", ref="B"),
            unit="s", width=24,
        ))
        .with_row(dashboard.Row("Data quality and alerts"))
        .with_panel(series(
            "Quality violations", "Values violating an expectation; exemplars: a violating prediction.",
            query(f"sum by (ml_model_name, ml_feature_name, ml_data_quality_expectation) "
                  f"(increase(ml_data_quality_violations_total{{{MODEL}}}[$__rate_interval]))",
                  "{{ml_feature_name}} {{ml_data_quality_expectation}}", exemplars=True),
        ))
        .with_panel(series(
            "Alerts", "Alerts raised (drift, performance, quality, SLO); exemplars: the alert's prediction.",
            query(f"sum by (ml_model_name, event_name) "
                  f"(increase(ml_alerts_total{{{MODEL}}}[$__rate_interval]))",
                  "{{ml_model_name}} {{event_name}}", exemplars=True),
        ))
        .with_panel(
            stat.Panel().title("Alerts in range").datasource(PROMETHEUS).span(24).height(4)
            .with_target(query(f"sum by (event_name) (increase(ml_alerts_total{{{MODEL}}}[$__range]))",
                               "{{event_name}}"))
        )
        .with_row(dashboard.Row("Sidecar"))
        .with_panel(series(
            "Spans accepted", "Spans accepted per second, per receiver and transport.",
            query(f"sum by (receiver, transport) "
                  f"(rate(otelml_collector_receiver_accepted_spans_total{{{JOB}}}[$__rate_interval]))",
                  "{{receiver}} {{transport}}"),
            unit="reqps", width=8,
        ))
        .with_panel(series(
            "Exporter queue", "Requests in each exporter's sending queue and its capacity.",
            query(f"max by (exporter) (otelml_collector_exporter_queue_size{{{JOB}}})", "{{exporter}} size"),
            query(f"max by (exporter) (otelml_collector_exporter_queue_capacity{{{JOB}}})",
                  "{{exporter}} capacity", ref="B"),
            width=8,
        ))
        .with_panel(series(
            "Sidecar CPU and memory", "CPU seconds per second and resident memory of each sidecar.",
            query(f"rate(otelml_collector_process_cpu_seconds_total{{{JOB}}}[$__rate_interval])",
                  "{{instance}} CPU"),
            query(f"otelml_collector_process_memory_rss_bytes{{{JOB}}} / 2^30", "{{instance}} RSS GiB",
                  ref="B"),
            width=8,
        ))
    )  # fmt: skip


DASHBOARDS = {"model-overview.json": model_overview}


def render() -> dict[str, str]:
    out = {}
    for name, build in DASHBOARDS.items():
        board = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        for number, panel in enumerate(board["panels"], start=1):
            panel["id"] = number  # unique ids: Grafana keys links and panel state by them
        out[name] = json.dumps(board, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = HERE / "dashboards" / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("stale (run python collector/grafana/dashboards.py):", *stale, sep="\n  ", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
