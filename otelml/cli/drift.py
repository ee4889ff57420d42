"""`otelml drift`: the sidecar's current drift per model/version/feature/method, with exemplar traces.

Reads `GET <url>/v1/drift[?model=M]` from a running sidecar (`otelml-collector`, HTTP API at
`service.http.endpoint`) and prints a table: one row per score of the last closed window, drifted
rows first, with the trace ids of exemplar predictions and, when a trace-UI URL template is known
(`--trace-url-template`, env `OTELML_TRACE_URL_TEMPLATE`, or the sidecar's
`service.trace_url_template`), a link to the first one. Exit codes: 0 ok, 2 sidecar unreachable or
answering something that is not drift JSON (the message names the URL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from typing import Any

from otelml.cli import _sidecar
from otelml.cli._sidecar import SidecarEndpoint, get_json, sidecar

__all__ = ["DEFAULT_URL", "ENV_TRACE_URL_TEMPLATE", "ENV_URL", "fetch", "format_table", "register", "run"]

DEFAULT_URL = "http://127.0.0.1:8890"
ENV_URL = "OTELML_SIDECAR_URL"
ENV_TRACE_URL_TEMPLATE = "OTELML_TRACE_URL_TEMPLATE"


class SidecarError(Exception):
    """The sidecar could not be reached or did not answer drift JSON."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "drift",
        help="show the sidecar's current drift with exemplar trace ids",
        description="Show current drift per model/version/feature/method from a running otelml sidecar, "
        "with trace ids of exemplar predictions.",
    )
    p.add_argument("--model", help="only this model (name)")
    p.add_argument(
        "--url",
        default=None,
        help=f"sidecar HTTP API base URL (default: ${ENV_URL} or {DEFAULT_URL})",
    )
    p.add_argument(
        "--trace-url-template",
        default=None,
        help="trace UI link, e.g. 'http://localhost:16686/trace/{trace_id}' "
        f"(default: ${ENV_TRACE_URL_TEMPLATE}, else the sidecar's service.trace_url_template)",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--all-methods", action="store_true",
                   help="also list the methods that only report (by default the table shows the methods that "
                   "alert, so DRIFT always agrees with SCORE vs THRESHOLD)")
    p.add_argument(
        "--explain",
        metavar="FEATURE",
        help="list the stored predictions of the last window that contribute most to FEATURE's score "
        "(needs --model and the predictions processor)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the sidecar (default 5)")
    p.add_argument(
        "--token", default=None, help=f"bearer token of the sidecar's API (default: ${_sidecar.ENV_TOKEN})"
    )
    p.add_argument(
        "--cacert", default=None, help=f"PEM CA of an https:// sidecar (default: ${_sidecar.ENV_CA})"
    )
    p.set_defaults(func=run)


def fetch(url: str | SidecarEndpoint, model: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The sidecar's /v1/drift answer as a dict; `SidecarError` naming the URL otherwise. A plain URL
    takes its token and CA from $OTELML_SIDECAR_TOKEN / $OTELML_SIDECAR_CA."""
    query = f"?{urllib.parse.urlencode({'model': model})}" if model else ""
    target = str(url).rstrip("/") + "/v1/drift" + query
    try:
        status, data = get_json(url, "/v1/drift", {"model": model or None}, timeout=timeout)
    except _sidecar.SidecarError as exc:
        raise SidecarError(str(exc)) from exc
    if status != 200:
        message = data.get("error") if isinstance(data, dict) else data
        raise SidecarError(f"{target}: HTTP {status}: {message}")
    if not isinstance(data, dict) or not isinstance(data.get("drift"), list):
        raise SidecarError(f"{target}: the answer has no 'drift' list; is this an otelml sidecar?")
    return data


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(data: dict[str, Any], template: str | None, all_methods: bool = False) -> str:
    """Rows sorted drifted first, then by model/version/feature/method; reporting-only methods (a score
    over its threshold that raises no alert by design) only with `all_methods`."""
    rows = sorted(
        (r for r in data["drift"] if all_methods or r.get("alerting", True)),
        key=lambda r: (not r.get("drifted"), r["model"], r["version"], r["feature"], r["method"]),
    )
    if not rows:
        return "no drift scores yet (windows still filling, or no baseline)"
    header = [
        *(["ALERTS"] if all_methods else []),
        "MODEL",
        "VERSION",
        "FEATURE",
        "METHOD",
        "SCORE",
        "THRESHOLD",
        "DRIFT",
        "N",
        "WINDOW END",
        "EXEMPLAR TRACE IDS",
    ]
    if template:
        header.append("TRACE")
    table = [header]
    for r in rows:
        traces = [e["trace_id"] for e in r.get("exemplars", [])]
        line = [
            *([("yes" if r.get("alerting", True) else "report only")] if all_methods else []),
            r["model"],
            r["version"] or "-",
            r["feature"],
            r["method"],
            _cell(r["score"]),
            _cell(r["threshold"]),
            "YES" if r["drifted"] else "no",
            str(r["window"]["count"]),
            r["window"]["end"],
            ",".join(traces[:3]) + (f" (+{len(traces) - 3})" if len(traces) > 3 else ""),
        ]
        if template:
            line.append(_link(template, traces[0]) if traces else "")
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def _link(template: str, trace_id: str) -> str:
    try:
        return template.format(trace_id=trace_id)
    except (KeyError, IndexError, ValueError):
        return template.replace("{trace_id}", trace_id)


def run(args: argparse.Namespace) -> int:
    endpoint = sidecar(args)
    if args.explain:
        from otelml.cli._explain import explain

        return explain(endpoint, args.model, args.explain, args.format == "json", args.timeout)
    try:
        data = fetch(endpoint, args.model, args.timeout)
    except SidecarError as exc:
        print(f"otelml drift: {exc}", file=sys.stderr)
        return 2
    template = (
        args.trace_url_template or os.environ.get(ENV_TRACE_URL_TEMPLATE) or data.get("trace_url_template")
    )
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    print(format_table(data, template, args.all_methods))
    return 0
