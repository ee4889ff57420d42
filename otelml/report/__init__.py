"""HTML views of otelml: the sidecar's web UI pages and the self-contained reports of `otelml drift --html`
and `otelml validate --html`, with charts drawn by plotly.js from the installed `plotly` package.

Pages are built from the sidecar's JSON documents (the same answers its HTTP API gives), rendered with
jinja2 (autoescaped: span data is attacker-controlled). `assets` is the URL prefix pages load plotly.js
from (`/ui/assets` on the sidecar); None inlines it, for a report that is one file and works offline.
Needs the `ui` extra (`pip install 'otelml[ui]'`); `missing()` names what is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from otelml.report._assets import INSTALL_HINT, ReportDependencyError, missing, plotly_js
from otelml.report._charts import histogram_figure
from otelml.report._render import render
from otelml.report._views import index_view, model_view, prediction_view

__all__ = [
    "INSTALL_HINT",
    "ReportDependencyError",
    "drift_report",
    "index_page",
    "missing",
    "model_page",
    "plotly_js",
    "prediction_page",
    "validate_report",
]

Doc = Mapping[str, Any]


def index_page(
    drift: Doc | None, performance: Doc | None, quality: Doc | None, *, links: str, assets: str | None
) -> str:
    """The list of models with their status."""
    return render("index.html.j2", assets=assets, links=links, models=index_view(drift, performance, quality))


def model_page(
    model: str, docs: Mapping[str, Doc | None], *, links: str, assets: str | None, version: str | None = None
) -> str:
    """One model: `docs` holds "drift", "history", "performance", "quality" and "explained" (feature ->
    `/v1/drift/predictions` answer), any of them None when that processor does not run."""
    v = model_view(
        model,
        docs.get("drift"),
        docs.get("history"),
        docs.get("performance"),
        docs.get("quality"),
        docs.get("explained"),
        version,
    )  # type: ignore[arg-type]
    return render("model.html.j2", assets=assets, links=links, v=v)


def prediction_page(doc: Doc, drifted_in_window: set[str], *, links: str, assets: str | None) -> str:
    """One prediction (or trace) document of `/v1/predictions/{id}` / `/v1/traces/{id}`."""
    return render("prediction.html.j2", assets=assets, links=links, p=prediction_view(doc, drifted_in_window))


def drift_report(
    models: Sequence[tuple[str, Mapping[str, Doc | None]]], *, source: str, links: str | None
) -> str:
    """One self-contained HTML file with the model page of each model (plotly.js inlined)."""
    views = [
        model_view(
            m, d.get("drift"), d.get("history"), d.get("performance"), d.get("quality"), d.get("explained")
        )
        for m, d in models
    ]  # type: ignore[arg-type]
    return render(
        "drift_report.html.j2",
        assets=None,
        links=links,
        views=views,
        source=source,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def validate_report(report: Doc, histograms: Mapping[str, tuple[Doc, Sequence[int]]]) -> str:
    """One self-contained HTML file of an `otelml validate` run: its expectations and, per column of the
    baseline, the data's histogram against the reference (`histograms`: column -> (reference, counts))."""
    figures = {c: histogram_figure(c, ref, counts, "this data") for c, (ref, counts) in histograms.items()}
    return render(
        "validate.html.j2",
        assets=None,
        links=None,
        r=report,
        figures=figures,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )
