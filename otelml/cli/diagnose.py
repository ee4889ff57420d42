"""`otelml diagnose`: is it the data, the model or the system? One verdict from a running sidecar.

Reads `GET <url>/v1/diagnose?model=M[&since=D]` and prints the verdict, each layer's status and its
evidence (signal, figures, trace ids that `otelml trace` opens). Exit codes: 0 verdict `none`,
1 a degraded verdict (`data`, `model` or `system`), 2 sidecar unreachable, unknown model or a bad
parameter (the message names it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otelml.cli._sidecar import SidecarError, add_url_argument, get_json, sidecar_url

__all__ = ["format_table", "register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="say whether a model's trouble is in the data, the model or the system",
        description="One verdict (data, model, system or none) with evidence and trace ids.",
    )
    p.add_argument("--model", required=True, help="the model to diagnose")
    p.add_argument("--since", help="look-back, e.g. 15m or 2h (default: the sidecar's diagnose.since)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_url_argument(p)
    p.set_defaults(func=run)


def _figures(detail: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in detail.items()
                     if v is not None)


def format_table(doc: dict[str, Any]) -> str:
    lines = [f"model {doc['model']}: verdict {doc['verdict'].upper()}"
             + (f" (since {doc['since']})" if doc.get("since") else "")]
    for layer in ("data", "model", "system"):
        info = doc["layers"][layer]
        lines.append(f"  {layer:<7} {info['status']}")
        for ev in info["evidence"]:
            lines.append(f"    - {ev['signal']}: {_figures(ev.get('detail') or {})}")
            if ev.get("trace_ids"):
                lines.append(f"      traces: {' '.join(ev['trace_ids'])}")
    if doc["verdict"] != "none":
        lines.append("open a trace with: otelml trace TRACE_ID")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    base = sidecar_url(args.url)
    try:
        status, doc = get_json(base, "/v1/diagnose", {"model": args.model, "since": args.since},
                               timeout=args.timeout)
    except SidecarError as exc:
        print(f"otelml diagnose: {exc}", file=sys.stderr)
        return 2
    if status != 200 or not isinstance(doc, dict) or "verdict" not in doc:
        message = doc.get("error") if isinstance(doc, dict) else doc
        print(f"otelml diagnose: {base}: HTTP {status}: {message}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.format == "json" else format_table(doc))
    return 0 if doc["verdict"] == "none" else 1
