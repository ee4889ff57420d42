"""`otelml trace ID`: one prediction (or trace) from the sidecar's prediction store, as a tree.

ID is a prediction id or a trace id (both 32 hex digits: the prediction is tried first). Prints each
trace of the prediction as a tree of spans across services — service, name, kind, duration, status —
with the ML attributes under each span (features, outputs, decision, label); features marked
`<- drift` are those the drift processor flagged on the span (`ml.drift.features`, a value outside the
baseline) or that drifted in the model version's last closed window (`/v1/drift`). `--json` prints the
API's document. Exit codes: 0 found, 1 not found, 2 usage error or sidecar unreachable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from otelml.cli._sidecar import SidecarEndpoint, SidecarError, add_url_argument, get_json, sidecar

__all__ = ["format_tree", "register", "run"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_SHOWN = (
    "ml.",
    "http.method",
    "http.route",
    "http.target",
    "http.status_code",
    "http.request.method",
    "http.response.status_code",
    "url.path",
    "db.system",
    "db.statement",
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "trace",
        help="follow one prediction end to end (prediction id or trace id)",
        description="Show one prediction's spans across services from the sidecar's prediction store.",
    )
    p.add_argument("id", metavar="ID", help="a prediction id or a trace id (hex)")
    p.add_argument("--json", action="store_true", help="print the API's JSON document")
    add_url_argument(p)
    p.set_defaults(func=run)


def _duration_ms(span: dict[str, Any]) -> float:
    return (span["end_time_unix_nano"] - span["start_time_unix_nano"]) / 1e6


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _attribute_lines(span: dict[str, Any], drifted_now: set[str]) -> list[str]:
    attrs = span.get("attributes", {})
    drifted = set(attrs.get("ml.drift.features") or [])
    if attrs.get("ml.operation.name") == "inference":
        drifted |= drifted_now
    lines = []
    for key in sorted(attrs):
        if key == "ml.drift.features" or not key.startswith(_SHOWN):
            continue
        mark = ""
        if key.startswith("ml.feature.") and key[len("ml.feature.") :] in drifted:
            mark = "  <- drift"
        lines.append(f"{key} = {_value(attrs[key])}{mark}")
    return lines


def format_tree(doc: dict[str, Any], drifted: set[str] | None = None) -> str:
    """The document's spans as one tree per trace (children by start time); `drifted`: features of the
    model that drifted in its last window."""
    out: list[str] = []
    if "prediction_id" in doc:
        label = doc.get("label")
        head = f"prediction {doc['prediction_id']}  model {doc.get('model') or '?'}"
        head += f"  version {doc.get('version') or '-'}  at {doc.get('time') or '?'}"
        out.append(head)
        if label:
            delay = label.get("delay_s")
            after = f" after {delay:.1f} s" if isinstance(delay, int | float) else ""
            out.append(f"label {_value(label.get('value'))} at {label.get('time')}{after}")
        else:
            out.append("label: none yet")
    spans = doc.get("spans", [])
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    for trace_id, members in by_trace.items():
        out.append(f"trace {trace_id}")
        ids = {s["span_id"] for s in members}
        children: dict[str | None, list[dict[str, Any]]] = {}
        for span in members:
            parent = span.get("parent_span_id")
            children.setdefault(parent if parent in ids else None, []).append(span)
        _walk(children, None, "", out, drifted or set())
    return "\n".join(out)


def _walk(
    children: dict[str | None, list[dict[str, Any]]],
    parent: str | None,
    indent: str,
    out: list[str],
    drifted: set[str],
) -> None:
    kids = sorted(children.get(parent, []), key=lambda s: s["start_time_unix_nano"])
    for i, span in enumerate(kids):
        last = i == len(kids) - 1
        status = span.get("status", {}).get("code", "unset")
        line = f"{indent}{'└─ ' if last else '├─ '}[{span.get('service') or '?'}] {span['name']}"
        line += f"  {span.get('kind')}  {_duration_ms(span):.2f} ms"
        if status != "unset":
            line += f"  {status.upper()}"
            if span.get("status", {}).get("message"):
                line += f": {span['status']['message']}"
        out.append(line)
        inner = indent + ("   " if last else "│  ")
        for attr in _attribute_lines(span, drifted):
            out.append(f"{inner}  {attr}")
        _walk(children, span["span_id"], inner, out, drifted)


def run(args: argparse.Namespace) -> int:
    ident = args.id.strip().lower()
    if not _HEX.match(ident):
        print(
            f"otelml trace: ID must be a prediction id or trace id in hex, got {args.id!r}", file=sys.stderr
        )
        return 2
    base = sidecar(args)
    try:
        status, doc = get_json(base, f"/v1/predictions/{ident}", timeout=args.timeout)
        if status == 404 and len(ident) == 32:
            status, doc = get_json(base, f"/v1/traces/{ident}", timeout=args.timeout)
    except SidecarError as exc:
        print(f"otelml trace: {exc}", file=sys.stderr)
        return 2
    if status == 404:
        print(f"otelml trace: {ident}: no such prediction or trace in the sidecar at {base}", file=sys.stderr)
        return 1
    if status != 200:
        message = doc.get("error") if isinstance(doc, dict) else doc
        print(f"otelml trace: {base}: HTTP {status}: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(format_tree(doc, _drifted_features(base, doc, args.timeout)))
    return 0


def _drifted_features(base: SidecarEndpoint, doc: dict[str, Any], timeout: float) -> set[str]:
    """Features of the prediction's model version that drifted in the last closed window (empty when
    the sidecar runs no drift processor)."""
    model = doc.get("model")
    if not model:
        models = {s["attributes"].get("ml.model.name") for s in doc.get("spans", [])}
        model = next((m for m in models if isinstance(m, str)), None)
    if not model:
        return set()
    try:
        status, drift = get_json(base, "/v1/drift", {"model": model}, timeout=timeout)
    except SidecarError:
        return set()
    if status != 200 or not isinstance(drift, dict):
        return set()
    version = doc.get("version")
    return {
        r["feature"]
        for r in drift.get("drift", [])
        if r.get("drifted") and (version is None or r.get("version") == version)
    }
