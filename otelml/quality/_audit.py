"""The audit store: every `otelml validate` run, appended to an SQLite database with its full report.

Default location: `$OTELML_AUDIT_DB`, else `$XDG_DATA_HOME/otelml/audit.sqlite`, else
`~/.local/share/otelml/audit.sqlite`; `--audit-db PATH` overrides both. Tables:

- `runs`: one row per run (`run_id`, `started_at` ISO-8601 UTC, `status` passed|failed|error, `data`,
  `expectations`, `baseline`, `row_count`, `evaluated`, `failed`, `error`, `duration_ms`, `host`,
  `user`, `otelml_version`, `report` = the JSON report, as `--report` writes it);
- `results`: one row per expectation of a run (`run_id`, `position`, `column_name`, `expectation`,
  `success`, `observed` JSON, `unexpected_count`, `unexpected_percent`, `source`).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otelml.environment_variables import OTELML_AUDIT_DB

__all__ = ["OTELML_AUDIT_DB", "AuditRun", "AuditStore", "default_audit_path"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT,
    expectations TEXT,
    baseline TEXT,
    row_count INTEGER,
    evaluated INTEGER,
    failed INTEGER,
    error TEXT,
    duration_ms REAL,
    host TEXT,
    user TEXT,
    otelml_version TEXT,
    report TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    position INTEGER NOT NULL,
    column_name TEXT,
    expectation TEXT NOT NULL,
    success INTEGER NOT NULL,
    observed TEXT,
    unexpected_count INTEGER,
    unexpected_percent REAL,
    source TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
"""


def default_audit_path() -> Path:
    env = os.environ.get(OTELML_AUDIT_DB)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "otelml" / "audit.sqlite"


@dataclass
class AuditRun:
    run_id: str
    started_at: str
    status: str
    data: str | None = None
    expectations: str | None = None
    baseline: str | None = None
    row_count: int | None = None
    evaluated: int | None = None
    failed: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    report: dict[str, Any] | None = None


class AuditStore:
    """Append-only access to the audit database; each call opens and closes its own connection, so
    concurrent pipeline steps may share one file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_audit_path()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0)
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise OSError(f"audit store {self.path}: cannot open: {exc}; set --audit-db or "
                          f"{OTELML_AUDIT_DB} to a writable path") from None
        return conn

    def append(self, run: AuditRun) -> None:
        from otelml import __version__

        results = (run.report or {}).get("results", [])
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO runs (run_id, started_at, status, data, expectations, baseline, row_count, "
                "evaluated, failed, error, duration_ms, host, user, otelml_version, report) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.run_id, run.started_at, run.status, run.data, run.expectations, run.baseline,
                 run.row_count, run.evaluated, run.failed, run.error, run.duration_ms, socket.gethostname(),
                 _user(), __version__, json.dumps(run.report) if run.report is not None else None),
            )
            conn.executemany(
                "INSERT INTO results (run_id, position, column_name, expectation, success, observed, "
                "unexpected_count, unexpected_percent, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run.run_id, i, r.get("column"), r.get("ge_type") or r["expectation"], int(r["success"]),
                  json.dumps(r.get("observed_value")), r.get("unexpected_count"), r.get("unexpected_percent"),
                  r.get("source")) for i, r in enumerate(results)],
            )

    def runs(self, *, limit: int = 20, status: str | None = None) -> list[AuditRun]:
        """Most recent runs first."""
        sql = ("SELECT run_id, started_at, status, data, expectations, baseline, row_count, evaluated, "
               "failed, error, duration_ms FROM runs")
        args: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with closing(self._connect()) as conn:
            return [AuditRun(*row) for row in conn.execute(sql, args)]

    def get(self, run_id: str) -> AuditRun | None:
        """One run with its report; `run_id` may be a unique prefix."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT run_id, started_at, status, data, expectations, baseline, row_count, evaluated, "
                "failed, error, duration_ms, report FROM runs WHERE substr(run_id, 1, length(?)) = ? LIMIT 2",
                (run_id, run_id),
            ).fetchall()
        if len(rows) != 1 or not run_id:
            return None
        run = AuditRun(*rows[0][:-1])
        run.report = json.loads(rows[0][-1]) if rows[0][-1] else None
        return run

    def __iter__(self) -> Iterator[AuditRun]:
        return iter(self.runs(limit=-1))


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None
