"""A small online feature store on SQLite: customer profiles keyed by customer id, with update times.

It stands in for Feast/Tecton-style online stores in the example: a lookup returns the features of one
entity and the age of its oldest value, which the gateway records on its `feature_lookup` span.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd

from examples.credit_data import PROFILE_COLUMNS

__all__ = ["FeatureStore"]

VIEW_NAME = "customer_profile"
VIEW_VERSION = "3"


class FeatureStore:
    name = "sqlite-online"

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, check_same_thread=False)
            self._local.conn = conn
        return conn

    def materialize(self, profiles: pd.DataFrame, updated_at: float | None = None) -> None:
        """Write one row per customer (index = customer id)."""
        now = time.time() if updated_at is None else updated_at
        frame = profiles[PROFILE_COLUMNS].copy()
        frame["customer_id"] = profiles.index.astype(str)
        frame["updated_at"] = now
        with self._conn() as conn:
            frame.to_sql(VIEW_NAME, conn, if_exists="replace", index=False)
            conn.execute(f"CREATE INDEX IF NOT EXISTS ix_{VIEW_NAME} ON {VIEW_NAME}(customer_id)")

    def lookup(self, customer_id: str) -> tuple[dict[str, object], float]:
        """Features of one customer and their age in seconds. KeyError if unknown."""
        cols = ", ".join(PROFILE_COLUMNS)
        row = (
            self._conn()
            .execute(f"SELECT {cols}, updated_at FROM {VIEW_NAME} WHERE customer_id = ?", (customer_id,))
            .fetchone()
        )
        if row is None:
            raise KeyError(customer_id)
        return dict(zip(PROFILE_COLUMNS, row[:-1], strict=True)), time.time() - float(row[-1])
