"""The example's online features: a real Feast repository (local provider, SQLite online store).

Customer profiles are a Parquet file in the repository folder (Feast's offline source), one row per
customer with the time it was written. The gateway opens the repository at start — ``apply`` of the
``customer`` entity and the ``customer_profile`` feature view, then ``materialize`` into the SQLite online
store — and looks features up with ``FeatureStore.get_online_features``, which otelml's Feast instrumentor
traces as a ``feature_lookup customer_profile`` span (project, view, feature names, entity key through the
capture policy, freshness from Feast's event timestamps).

Feast pins pandas < 3, so the gateway runs in its own environment (`make feast`); writing the profiles
needs only pandas and pyarrow and runs anywhere.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from examples.credit_data import CATEGORICAL, PROFILE_COLUMNS, applications

__all__ = ["PROFILES_FILE", "PROJECT", "VIEW_NAME", "CustomerFeatures", "customer_profiles", "write_profiles"]

PROJECT = "credit"
VIEW_NAME = "customer_profile"
PROFILES_FILE = "customer_profiles.parquet"
DEFAULT_CUSTOMERS = 3000  # per population: what `examples.traffic` sends by default
_TS = "event_timestamp"


def customer_profiles(customers: int, shift: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`customers` customers from the training population (c0, c1, ...) and as many whose income fell and
    utilization rose by `shift` standard deviations (s0, s1, ...); the same for the same arguments."""
    normal = applications(customers, seed=11)
    normal.index = [f"c{i}" for i in range(customers)]
    shifted = applications(customers, seed=12, shift=shift)
    shifted.index = [f"s{i}" for i in range(customers)]
    return normal, shifted


def write_profiles(repo: Path | str, profiles: pd.DataFrame, updated_at: float | None = None) -> Path:
    """Write the profiles (index = customer id) as the feature view's source, stamped `updated_at`."""
    path = Path(repo) / PROFILES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(time.time() if updated_at is None else updated_at, UTC)
    frame = profiles[PROFILE_COLUMNS].copy()
    frame.insert(0, "customer_id", profiles.index.astype(str))
    frame[_TS] = pd.Timestamp(stamp)
    frame.to_parquet(path, index=False)
    return path


class CustomerFeatures:
    """The Feast repository in `repo`: applied and materialized when opened (with the default populations
    of :func:`customer_profiles` if the folder holds no profiles yet)."""

    def __init__(self, repo: Path | str) -> None:
        from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
        from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
        from feast.types import Float64, String

        root = Path(repo).resolve()
        source = root / PROFILES_FILE
        if not source.exists():
            write_profiles(root, pd.concat(customer_profiles(DEFAULT_CUSTOMERS)))
        customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
        schema = [Field(name=c, dtype=String if c in CATEGORICAL else Float64) for c in PROFILE_COLUMNS]
        view = FeatureView(name=VIEW_NAME, entities=[customer], ttl=timedelta(days=7), schema=schema,
                           source=FileSource(path=str(source), timestamp_field=_TS))
        config = RepoConfig(project=PROJECT, registry=str(root / "registry.db"), provider="local",
                            online_store=SqliteOnlineStoreConfig(path=str(root / "online.db")),
                            entity_key_serialization_version=3, repo_path=str(root))
        self.store = FeatureStore(repo_path=str(root), config=config)
        self.store.apply([customer, view])
        written = pd.read_parquet(source, columns=[_TS])[_TS]
        self.store.materialize(written.min().to_pydatetime() - timedelta(seconds=1),
                               datetime.now(UTC) + timedelta(seconds=1))
        self._features = [f"{VIEW_NAME}:{c}" for c in PROFILE_COLUMNS]
        self._lock = threading.Lock()  # the SQLite online store shares one connection between threads

    def lookup(self, customer_id: str) -> dict[str, Any]:
        """The profile features of one customer. KeyError if Feast has none for it."""
        with self._lock:
            served = self.store.get_online_features(features=self._features,
                                                    entity_rows=[{"customer_id": customer_id}]).to_dict()
        features = {c: served[c][0] for c in PROFILE_COLUMNS}
        if all(v is None for v in features.values()):
            raise KeyError(customer_id)
        return features
