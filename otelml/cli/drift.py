"""`otelml drift`: the sidecar's current drift per model/version/feature/method, with exemplar traces.

Reads `GET <url>/v1/drift[?model=M]` from a running sidecar (`otelml-collector`, HTTP API at
`service.http.endpoint`) and prints a table: one row per score of the last closed window, drifted
rows first, with the trace ids of exemplar predictions and, when a trace-UI URL template is known
(`--trace-url-template`, env `OTELML_TRACE_URL_TEMPLATE`, or the sidecar's
`service.trace_url_template`), a link to the first one. With `drift.segments` configured a SEGMENT
column tells the model version's own scores (`-`) from each segment value's (`region=eu`). Exit
codes: 0 ok, 2 sidecar unreachable or answering something that is not drift JSON (the message names
the URL).
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
    p.add_argument("--html", metavar="FILE",
                   help="also write one self-contained HTML report (the web UI's model pages, charts "
                   "inlined) to FILE")  # fmt: skip
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
        key=lambda r: (
            not r.get("drifted"), r["model"], r["version"], _segment(r), r["feature"], r["method"]
        ),
    )
    if not rows:
        return "no drift scores yet (windows still filling, or no baseline)"
    segmented = any(r.get("segment") for r in rows)  # drift.segments configured: say which rows are which
    header = [
        *(["ALERTS"] if all_methods else []),
        "MODEL",
        "VERSION",
        *(["SEGMENT"] if segmented else []),
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
            *([_segment(r) or "-"] if segmented else []),
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


def _segment(row: dict[str, Any]) -> str:
    """`key=value` of a segment's score, "" for the model version as a whole."""
    return ",".join(f"{k}={v}" for k, v in (row.get("segment") or {}).items())


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
    if args.html:
        problem = write_html(args.html, endpoint, data, args.timeout)
        if problem:
            print(f"otelml drift: {problem}", file=sys.stderr)
            return 2
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    print(format_table(data, template, args.all_methods))
    if args.html:
        print(f"\nreport written to {args.html}")
    return 0


def write_html(path: str, endpoint: Any, data: dict[str, Any], timeout: float) -> str | None:
    """The HTML report of every model in `data` (the /v1/drift answer) to `path`; the problem, if any.

    Reads what the web UI's model page reads (`/v1/drift/history`, `/v1/performance`, `/v1/quality`, the
    predictions behind each drifted feature); links to predictions lead to the sidecar's pages."""
    from otelml.cli._sidecar import SidecarError as ApiError
    from otelml.cli._sidecar import get_json

    try:
        from otelml import report
    except ImportError as exc:
        return f"--html needs the `ui` extra ({exc}); pip install 'otelml[ui]'"
    missing = report.missing()
    if missing:
        return f"--html needs {', '.join(missing)}; {report.INSTALL_HINT}"
    base = str(endpoint).rstrip("/")
    models = sorted({m["model"] for m in data.get("models", [])} | {d["model"] for d in data["drift"]})
    pages = []
    try:
        for model in models:
            rows = [d for d in data["drift"] if d["model"] == model]
            docs: dict[str, Any] = {"drift": {**data, "drift": rows}}
            for name, route, extra in (("history", "/v1/drift/history", {"counts": "last"}),
                                       ("performance", "/v1/performance", {}),
                                       ("quality", "/v1/quality", {})):
                status, doc = get_json(endpoint, route, {"model": model, **extra}, timeout)
                docs[name] = doc if status == 200 else None
            docs["explained"] = {}
            for d in docs["drift"]["drift"]:
                if d["drifted"] and d.get("alerting", True) and d["feature"] not in docs["explained"]:
                    params = {"model": model, "feature": d["feature"], "version": d["version"], "limit": 10}
                    status, doc = get_json(endpoint, "/v1/drift/predictions", params, timeout)
                    if status == 200:
                        docs["explained"][d["feature"]] = doc
            pages.append((model, docs))
    except ApiError as exc:
        return str(exc)
    text = report.drift_report(pages, source=base, links=base + "/ui")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        return f"--html {path}: cannot write: {exc.strerror or exc}"
    return None
