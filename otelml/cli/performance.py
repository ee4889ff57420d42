"""`otelml performance`: realized and estimated model performance per window from a running sidecar.

Reads `GET <url>/v1/performance[?model=M&segment=KEY]` and prints one row per window, oldest first:
model, version, segment, window end, predictions, label coverage, then each metric as
`realized / estimated` (`-` where there is none: a window without labels has no realized value).
Exit codes: 0 ok, 2 sidecar unreachable or a bad parameter (the message names it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otelml.cli._sidecar import SidecarError, add_url_argument, get_json, sidecar

__all__ = ["format_table", "register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "performance",
        help="show realized and estimated model performance per window",
        description="Show model performance per window (realized from labels, estimated before them).",
    )
    p.add_argument("--model", help="only this model")
    p.add_argument("--version", help="only this model version")
    p.add_argument("--segment", metavar="KEY", help="per-segment windows of ml.segment.KEY")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_url_argument(p)
    p.set_defaults(func=run)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_table(windows: list[dict[str, Any]]) -> str:
    if not windows:
        return "no performance windows yet (no predictions, or the processor is not configured)"
    metrics = sorted({m for w in windows for m in (*w["realized"], *w["estimated"])})
    header = ["MODEL", "VERSION", "SEGMENT", "WINDOW END", "N", "LABELLED", *[m.upper() for m in metrics]]
    table = [header]
    for w in windows:
        segment = ",".join(f"{k}={v}" for k, v in w["segment"].items()) or "-"
        row = [w["model"], w["version"] or "-", segment, w["end"] or "-", str(w["n"]), f"{w['coverage']:.0%}"]
        row += [f"{_num(w['realized'].get(m))} / {_num(w['estimated'].get(m))}" for m in metrics]
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return "\n".join([*lines, "(metric columns: realized / estimated)"])


def run(args: argparse.Namespace) -> int:
    base = sidecar(args)
    params = {"model": args.model, "version": args.version, "segment": args.segment}
    try:
        status, doc = get_json(base, "/v1/performance", params, timeout=args.timeout)
    except SidecarError as exc:
        print(f"otelml performance: {exc}", file=sys.stderr)
        return 2
    if status != 200 or not isinstance(doc, dict) or "windows" not in doc:
        message = doc.get("error") if isinstance(doc, dict) else doc
        print(f"otelml performance: {base}: HTTP {status}: {message}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.format == "json" else format_table(doc["windows"]))
    return 0
