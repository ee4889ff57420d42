"""`otelml audit [RUN_ID]`: list recent `otelml validate` runs from the audit store, or show one run's
full JSON report. Exit codes: 0 ok, 2 unknown run id or unreadable store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit",
        help="list recorded `otelml validate` runs, or show one",
        description="List recent data-quality runs from the audit store (newest first), or print the "
        "JSON report of one run given its id (or a unique prefix).",
    )
    p.add_argument("run_id", nargs="?", metavar="RUN_ID", help="show this run's full report")
    p.add_argument("--audit-db", metavar="PATH",
                   help="audit database (default $OTELML_AUDIT_DB or ~/.local/share/otelml/audit.sqlite)")
    p.add_argument("--limit", type=int, default=20, help="runs to list (default 20)")
    p.add_argument("--status", choices=("passed", "failed", "error"), help="only runs with this status")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otelml.quality import AuditStore

    store = AuditStore(args.audit_db)
    if not store.path.exists():
        print(f"otelml audit: error: {store.path}: no audit store yet (run `otelml validate` first, "
              "or pass --audit-db)", file=sys.stderr)
        return 2
    try:
        if args.run_id:
            one = store.get(args.run_id)
            if one is None:
                print(f"otelml audit: error: {store.path}: no single run matches id {args.run_id!r}",
                      file=sys.stderr)
                return 2
            print(json.dumps(one.report or {"run_id": one.run_id, "status": one.status, "error": one.error},
                             indent=2))
            return 0
        runs = store.runs(limit=args.limit, status=args.status)
    except OSError as exc:
        print(f"otelml audit: error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([{k: v for k, v in vars(r).items() if k != "report"} for r in runs], indent=2))
        return 0
    rows = [("run id", "started (UTC)", "status", "rows", "failed", "data", "expectations")]
    for r in runs:
        failed = "" if r.failed is None else f"{r.failed}/{r.evaluated}"
        n_rows = "" if r.row_count is None else str(r.row_count)
        rows.append((r.run_id[:12], r.started_at[:19], r.status, n_rows, failed, r.data or "",
                     r.expectations or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
