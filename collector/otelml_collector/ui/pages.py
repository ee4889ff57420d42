"""Page handlers of the web UI: gather the JSON documents a page needs from the HTTP API, render them with
`otelml.report`. Each runs in the API's worker threads, reading the processors' snapshots."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from typing import Any

from otelml_collector.httpapi import HttpApi

__all__ = ["ASSETS", "HTML", "PREFIX", "register"]

PREFIX = "/ui"
ASSETS = "/ui/assets"
HTML = "text/html; charset=utf-8"
_HEX = re.compile(r"^[0-9a-f]+$")
_log = logging.getLogger("otelml_collector.ui")


def register(api: HttpApi) -> None:
    pages = Pages(api)
    api.add_get(PREFIX, pages.index, HTML)
    api.add_get(PREFIX + "/", pages.index, HTML)
    api.add_get(PREFIX + "/models/{model}", pages.model, HTML)
    api.add_get(PREFIX + "/predictions/{prediction_id}", pages.prediction, HTML)
    api.add_get(ASSETS + "/plotly.min.js", pages.plotly, "application/javascript; charset=utf-8")


def _message(status: int, title: str, text: str) -> tuple[int, str]:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f"<p><a href='{PREFIX}/'>models</a></p></body></html>"
    )
    return status, body


class Pages:
    def __init__(self, api: HttpApi) -> None:
        self.api = api

    def _doc(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        """The route's answer, or None when it is missing (that processor does not run) or says no."""
        status, doc = self.api.call(path, query)
        return doc if status == 200 else None

    def _report(self) -> Any:
        try:
            import otelml.report as report
        except ImportError as exc:  # pragma: no cover - the `ui` extra is part of `collector`
            return None, _message(503, "web UI unavailable", f"{exc}; pip install 'otelml[ui]'")
        missing = report.missing()
        if missing:
            return None, _message(
                503, "web UI unavailable", f"missing {', '.join(missing)}; {report.INSTALL_HINT}"
            )
        return report, None

    def index(self, query: Mapping[str, str]) -> Any:
        report, error = self._report()
        if report is None:
            return error
        return report.index_page(
            self._doc("/v1/drift"),
            self._doc("/v1/performance"),
            self._doc("/v1/quality"),
            links=PREFIX,
            assets=ASSETS,
        )

    def model(self, query: Mapping[str, str]) -> Any:
        report, error = self._report()
        if report is None:
            return error
        model, version = query["model"], query.get("version")
        drift = self._doc("/v1/drift", {"model": model})
        history = self._doc("/v1/drift/history", {"model": model, "counts": "last"})
        performance = self._doc("/v1/performance", {"model": model})
        quality = self._doc("/v1/quality", {"model": model})
        if drift is None and not (performance or {}).get("windows"):
            return _message(404, f"model {model}", f"the sidecar knows no model named {model!r} (yet)")
        drifted = {
            (d["version"], d["feature"])
            for d in (drift or {}).get("drift", [])
            if d.get("drifted") and d.get("alerting", True)
        }
        explained: dict[str, Any] = {}
        for v, feature in sorted(drifted):
            if version is None or v == version:
                doc = self._doc("/v1/drift/predictions", {"model": model, "feature": feature, "version": v,
                                                           "limit": "10"})  # fmt: skip
                if doc is not None:
                    explained[feature] = doc
        docs = {"drift": drift, "history": history, "performance": performance, "quality": quality,
                "explained": explained}  # fmt: skip
        return report.model_page(model, docs, links=PREFIX, assets=ASSETS, version=version)

    def prediction(self, query: Mapping[str, str]) -> Any:
        """A prediction id, or a trace id (alerts and exemplars carry those), as `otelml trace` takes."""
        report, error = self._report()
        if report is None:
            return error
        pid = query["prediction_id"]
        if not _HEX.match(pid):
            return _message(
                400, "not an id", f"expected a prediction or trace id (lowercase hex), got {pid!r}"
            )
        doc = self._doc(f"/v1/predictions/{pid}")
        if doc is None and len(pid) == 32:
            trace = self._doc(f"/v1/traces/{pid}")
            if trace is not None:
                ids = trace.get("prediction_ids") or []
                doc = (self._doc(f"/v1/predictions/{ids[0]}") if ids else None) or trace
        if doc is None:
            return _message(404, f"prediction {pid}", "not in the prediction store (unknown, or evicted)")
        drifted: set[str] = set()
        if doc.get("model"):
            drift = self._doc("/v1/drift", {"model": doc["model"]}) or {}
            drifted = {
                d["feature"]
                for d in drift.get("drift", [])
                if d.get("drifted") and d.get("alerting", True) and d["version"] == doc.get("version")
            }
        return report.prediction_page(doc, drifted, links=PREFIX, assets=ASSETS)

    def plotly(self, query: Mapping[str, str]) -> Any:
        report, error = self._report()
        if report is None:
            return error
        return report.plotly_js()
