"""A SQLite online store with Feast's asynchronous read, so that ``get_online_features_async`` runs on a
real repository here: Feast's own SQLite store has no async read, and an online store class named in the
repository's config is Feast's plug-in point for stores. It reads exactly what the SQLite store reads."""

from __future__ import annotations

from typing import Any, Literal

from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.infra.supported_async_methods import SupportedAsyncMethods

TYPE = "tests.feast_venv.async_sqlite.AsyncSqliteOnlineStore"


class AsyncSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    type: Literal["tests.feast_venv.async_sqlite.AsyncSqliteOnlineStore"] = TYPE  # type: ignore[assignment]


class AsyncSqliteOnlineStore(SqliteOnlineStore):
    @property
    def async_supported(self) -> SupportedAsyncMethods:
        return SupportedAsyncMethods(read=True)

    async def online_read_async(self, config: Any, table: Any, entity_keys: Any,
                                requested_features: Any = None) -> Any:
        return self.online_read(config, table, entity_keys, requested_features)
