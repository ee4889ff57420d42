"""`otelml predictions`: search the sidecar's prediction store (`GET /v1/predictions`).

Filters: --model, --version, --since/--until (Unix seconds, ISO 8601 or a duration before now such as
15m), --feature NAME with --min/--max (range) or --value (exact), --value alone (the prediction
value), --decision, --label (a value, `any` or `none`), --limit. Prints a table, newest first, or
the API's JSON with --json. Exit codes: 0 found, 1 nothing matched, 2 bad filter or sidecar unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otelml.cli._sidecar import SidecarError, add_url_argument, get_json, sidecar

__all__ = ["format_table", "register", "run"]

_FILTERS = (
    "model",
    "version",
    "since",
    "until",
    "feature",
    "min",
    "max",
    "value",
    "decision",
    "label",
    "limit",
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predictions",
        help="search stored predictions (by model, time, feature range, decision, label)",
        description="Search the predictions stored by the sidecar's `predictions` processor.",
    )
    p.add_argument("--model")
    p.add_argument("--version")
    p.add_argument("--since", help="Unix seconds, ISO 8601 time, or a duration before now (15m)")
    p.add_argument("--until", help="as --since")
    p.add_argument("--feature", metavar="NAME", help="filter on this feature with --min/--max/--value")
    p.add_argument("--min", help="lowest feature value (inclusive)")
    p.add_argument("--max", help="highest feature value (inclusive)")
    p.add_argument("--value", help="the feature's value (with --feature), else the prediction value")
    p.add_argument("--decision")
    p.add_argument("--label", help="label value, or 'any' / 'none'")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print the API's JSON document")
    add_url_argument(p)
    p.set_defaults(func=run)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["PREDICTION ID", "TRACE ID", "TIME", "MODEL", "VERSION", "VALUE", "SCORE", "DECISION", "LABEL"]
    table = [header]
    for r in rows:
        label = r.get("label")
        table.append(
            [
                r["prediction_id"],
                r.get("trace_id") or "-",
                r.get("time") or "-",
                _cell(r.get("model")),
                _cell(r.get("version")),
                _cell(r.get("value")),
                _cell(r.get("score")),
                _cell(r.get("decision")),
                _cell(label.get("value")) if label else "-",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def run(args: argparse.Namespace) -> int:
    base = sidecar(args)
    params = {name: getattr(args, name) for name in _FILTERS}
    try:
        status, doc = get_json(base, "/v1/predictions", params, timeout=args.timeout)
    except SidecarError as exc:
        print(f"otelml predictions: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        message = doc.get("error") if isinstance(doc, dict) else doc
        print(f"otelml predictions: {message} ({base}, HTTP {status})", file=sys.stderr)
        return 2
    rows = doc.get("predictions", [])
    if args.json:
        print(json.dumps(doc, indent=2))
    elif rows:
        print(format_table(rows))
        if doc.get("truncated"):
            print("(search stopped after reading its candidate limit; narrow it with --since/--model)")
    else:
        print("no stored prediction matches", file=sys.stderr)
    return 0 if rows else 1
