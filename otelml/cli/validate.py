"""`otelml validate DATA --expectations FILE`: the data-quality gate for pipelines.

Exit codes: 0 every expectation passed, 1 at least one failed, 2 usage or input error (missing or
unreadable data, invalid expectations file or baseline; the message names the file, line and key).
Every run, including errored ones, is appended to the audit store (see `otelml audit`); with
`OTEL_EXPORTER_OTLP_ENDPOINT` set it is also emitted over OTLP; `--alert-webhook URL` posts a
Slack-compatible message when the gate fails. See docs/quality.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check a CSV/Parquet file against expectations (exit 1 when any fails)",
        description="Check a CSV or Parquet file against an otelml expectations YAML file or a Great "
        "Expectations suite JSON. Exit 0 when every expectation passes, 1 when any fails, 2 on usage "
        "or input errors.",
    )
    p.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz), TSV (.tsv) or Parquet (.parquet) file")
    p.add_argument("--delimiter", metavar="CHAR",
                   help="field delimiter of a text file (default by name: .csv comma, .tsv tab)")
    p.add_argument("--expectations", "-e", required=True, metavar="FILE",
                   help="otelml expectations YAML or Great Expectations suite JSON")
    p.add_argument("--baseline", metavar="FILE",
                   help="baseline JSON (`otelml baseline build`) for drift checks")
    p.add_argument("--report", metavar="FILE", help="also write the full JSON report to FILE")
    p.add_argument("--html", metavar="FILE",
                   help="also write one self-contained HTML report to FILE (expectations, and with "
                   "--baseline each column's histogram against the reference; works offline)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="stdout format (default table)")
    p.add_argument("--audit-db", metavar="PATH",
                   help="audit database (default $OTELML_AUDIT_DB or ~/.local/share/otelml/audit.sqlite)")
    p.add_argument("--no-audit", action="store_true", help="do not record this run in the audit store")
    p.add_argument("--alert-webhook", metavar="URL", help="POST a Slack-compatible JSON message on failure")
    p.add_argument("--max-examples", type=int, default=5, metavar="N",
                   help="unexpected examples kept per expectation (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otelml.quality import QualityError, format_table, read_data, resolve_expectations, validate

    started = time.time()
    run_id = uuid.uuid4().hex
    result = None
    error: str | None = None
    baseline: Any = None
    df: Any = None
    try:
        if args.max_examples < 0:
            raise QualityError(f"--max-examples must be >= 0, got {args.max_examples}")
        exps, _ = resolve_expectations(args.expectations)  # an invalid file fails before reading data
        if args.baseline:
            from otelml.quality import load_baseline_file

            baseline = load_baseline_file(args.baseline)
        df = read_data(args.data, delimiter=args.delimiter)
        result = validate(df, exps, baseline, max_examples=args.max_examples)
        result.data, result.expectations_source = args.data, args.expectations
    except QualityError as exc:
        error = str(exc)
    except Exception as exc:
        error = f"internal error: {type(exc).__name__}: {exc}"
    status = "error" if error else ("passed" if result is not None and result.success else "failed")
    report: dict[str, Any] = {
        "run_id": run_id,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
        "status": status,
        **(result.to_dict() if result is not None else
           {"success": False, "data": args.data, "expectations": args.expectations, "row_count": 0,
            "statistics": None, "results": []}),
        "baseline": args.baseline,
        "duration_ms": round((time.time() - started) * 1000, 3),
    }
    if error:
        report["error"] = error
    problems: list[str] = []
    if args.report:
        problems += _write_report(args.report, report)
    if args.html:
        problems += _write_html(args.html, report, baseline, df)
    if error:
        print(f"otelml validate: error: {error}", file=sys.stderr)
    if args.format == "json":  # also on errors: a machine reader gets {"status": "error", "error": ...}
        print(json.dumps(report, indent=2))
    elif not error:
        sys.stdout.write(format_table(result))  # type: ignore[arg-type]
    problems += _record(args, report, result, status, run_id, error)
    for problem in problems:
        print(f"otelml validate: warning: {problem}", file=sys.stderr)
    return 2 if error else (0 if status == "passed" else 1)


def _write_report(path: str, report: dict[str, Any]) -> list[str]:
    try:
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        return [f"--report {path}: cannot write: {exc.strerror or exc}"]
    return []


def _write_html(path: str, report: dict[str, Any], baseline: Any, df: Any) -> list[str]:
    """The HTML report: the expectations, and each baseline column of the data against its reference."""
    try:
        from otelml import report as html
    except ImportError as exc:
        return [f"--html {path}: needs the `ui` extra ({exc}); pip install 'otelml[ui]'"]
    if html.missing():
        return [f"--html {path}: needs {', '.join(html.missing())}; {html.INSTALL_HINT}"]
    histograms = {}
    if baseline is not None and df is not None:
        for name, profile in list(baseline.features.items())[:100]:
            column = profile.column or name
            if column in df.columns:
                histograms[column] = (profile.to_dict(), profile.window_of(df[column]).counts.tolist())
    try:
        Path(path).write_text(html.validate_report(report, histograms), encoding="utf-8")
    except OSError as exc:
        return [f"--html {path}: cannot write: {exc.strerror or exc}"]
    return []


def _record(args: argparse.Namespace, report: dict[str, Any], result: Any, status: str, run_id: str,
            error: str | None) -> list[str]:
    """Audit store, OTLP and webhook: each best effort, problems returned as warnings."""
    from otelml.quality import AuditRun, AuditStore, otlp_configured, post_webhook, send_otlp, slack_message

    problems: list[str] = []
    if not args.no_audit:
        stats = report.get("statistics") or {}
        try:
            AuditStore(args.audit_db).append(AuditRun(
                run_id=run_id, started_at=report["started_at"], status=status, data=args.data,
                expectations=args.expectations, baseline=args.baseline, row_count=report.get("row_count"),
                evaluated=stats.get("evaluated"), failed=stats.get("unsuccessful"), error=error,
                duration_ms=report["duration_ms"], report=report))
        except Exception as exc:
            problems.append(f"run not audited: {exc}")
    dataset, suite = Path(args.data).name, Path(args.expectations).name
    if otlp_configured():
        problems += send_otlp(report, status=status, run_id=run_id, dataset=dataset, suite=suite)
    if args.alert_webhook and status != "passed":
        payload = slack_message(result, status=status, dataset=args.data, suite=args.expectations,
                                run_id=run_id, error=error)
        problems += post_webhook(args.alert_webhook, payload)
    return problems
