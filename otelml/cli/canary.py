"""`otelml canary`: promote, rollback or inconclusive for a candidate model version, from a sidecar.

Reads `GET <url>/v1/canary?model=M&baseline=V1&candidate=V2[&since=D]` and prints the verdict and
every check. Exit codes: 0 promote, 1 rollback, 3 inconclusive, 2 sidecar unreachable, no such
calls or a bad parameter (the message names it) — usable as a deployment gate in a pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otelml.cli._sidecar import SidecarError, add_url_argument, get_json, sidecar_url

__all__ = ["EXIT_CODES", "format_table", "register", "run"]

EXIT_CODES = {"promote": 0, "rollback": 1, "inconclusive": 3}
_SHOWN = ("value", "baseline", "candidate", "drop", "ratio", "increase", "p_value", "threshold", "method",
          "metric", "pairs", "labels", "detail")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "canary",
        help="compare a candidate model version with a baseline: promote, rollback or inconclusive",
        description="Canary / shadow verdict from the calls both versions served.",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--baseline", required=True, metavar="V1", help="the version serving now (primary)")
    p.add_argument("--candidate", required=True, metavar="V2", help="the canary or shadow version")
    p.add_argument("--since", help="look-back, e.g. 1h (default: the sidecar's canary.since)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_url_argument(p)
    p.set_defaults(func=run)


def format_table(doc: dict[str, Any]) -> str:
    samples = doc["samples"]
    lines = [
        f"model {doc['model']}: {doc['candidate']} vs {doc['baseline']} ({doc['mode']}): "
        f"{doc['verdict'].upper()} — {doc['reason']}",
        f"  calls: baseline {samples['baseline']}, candidate {samples['candidate']} "
        f"(min_samples {doc['min_samples']})"
        + (f"; agreement {doc['agreement']:.2%}" if doc.get("agreement") is not None else ""),
    ]
    for check in doc["checks"]:
        figures = ", ".join(f"{k}={json.dumps(check[k]) if isinstance(check[k], dict) else check[k]}"
                            for k in _SHOWN if check.get(k) is not None)
        lines.append(f"  {check['name']:<17} {check['status']:<8} {figures}")
    if doc.get("trace_ids"):
        lines.append(f"  traces: {' '.join(doc['trace_ids'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    base = sidecar_url(args.url)
    params = {"model": args.model, "baseline": args.baseline, "candidate": args.candidate}
    params["since"] = args.since
    try:
        status, doc = get_json(base, "/v1/canary", params, timeout=args.timeout)
    except SidecarError as exc:
        print(f"otelml canary: {exc}", file=sys.stderr)
        return 2
    if status != 200 or not isinstance(doc, dict) or doc.get("verdict") not in EXIT_CODES:
        message = doc.get("error") if isinstance(doc, dict) else doc
        print(f"otelml canary: {base}: HTTP {status}: {message}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.format == "json" else format_table(doc))
    return EXIT_CODES[doc["verdict"]]
