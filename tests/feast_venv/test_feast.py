"""Runs in .venv-feast (Feast pins pandas < 3; tests/integrations/test_feast_venv.py starts it).

The Feast instrumentor on a real Feast repository (local provider, SQLite online store, ``apply`` +
``materialize``) in a temporary folder: one ``feature_lookup {view}`` span per view touched, lineage and
freshness from Feast's own timestamps, entity keys through the capture policy."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RepoConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.types import Float32, Int64
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

import otelml
from otelml.instrumentation.feast import FeastInstrumentor
from otelml.instrumentation.xgboost import XGBoostInstrumentor
from tests.support.sinks import OtlpSink

NOW = datetime.now(UTC).replace(microsecond=0)
AGES_S = {1: 3600, 2: 120, 3: 7200}  # how old each customer's stats row is
ORDERS_AGE_S = 600
TS = "event_timestamp"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> FeatureStore:
    root = tmp_path_factory.mktemp("feast")
    ids = list(AGES_S)
    pd.DataFrame({
        "customer_id": ids, "age": [31.0, 45.0, 27.0], "income": [52.0, 80.5, 33.0],
        "event_timestamp": [NOW - timedelta(seconds=AGES_S[i]) for i in ids],
    }).to_parquet(root / "customers.parquet")
    pd.DataFrame({
        "customer_id": ids, "orders": [3, 11, 0],
        "event_timestamp": [NOW - timedelta(seconds=ORDERS_AGE_S)] * 3,
    }).to_parquet(root / "orders.parquet")
    customer = Entity(name="customer", join_keys=["customer_id"])
    stats = FeatureView(name="customer_stats", entities=[customer], ttl=timedelta(days=2),
                        schema=[Field(name="age", dtype=Float32), Field(name="income", dtype=Float32)],
                        source=FileSource(path=str(root / "customers.parquet"), timestamp_field=TS))
    orders = FeatureView(name="customer_orders", entities=[customer], ttl=timedelta(days=2),
                         schema=[Field(name="orders", dtype=Int64)],
                         source=FileSource(path=str(root / "orders.parquet"), timestamp_field=TS))
    service = FeatureService(name="churn_features", features=[stats, orders[["orders"]]])
    feature_store = FeatureStore(repo_path=str(root), config=_config(root, SqliteOnlineStoreConfig))
    feature_store.apply([customer, stats, orders, service])
    feature_store.materialize(NOW - timedelta(days=1), NOW + timedelta(seconds=1))
    return feature_store


def _config(root, online_store) -> RepoConfig:
    return RepoConfig(project="shop", registry=str(root / "registry.db"), provider="local",
                      online_store=online_store(path=str(root / "online.db")),
                      entity_key_serialization_version=3, repo_path=str(root))


def _lookups(exporter):
    spans = sorted((s for s in exporter.get_finished_spans() if s.name.startswith("feature_lookup")),
                   key=lambda s: s.name)
    exporter.clear()
    return spans


def test_online_lookup_lineage_freshness_and_entities(exporter, instrument, store) -> None:
    expected = store.get_online_features(features=["customer_stats:age", "customer_stats:income"],
                                         entity_rows=[{"customer_id": 1}]).to_dict()
    instrument(FeastInstrumentor)
    got = store.get_online_features(features=["customer_stats:age", "customer_stats:income"],
                                    entity_rows=[{"customer_id": 1}]).to_dict()
    assert got == expected
    (span,) = _lookups(exporter)
    attrs = dict(span.attributes)
    served_at = span.end_time / 1e9
    oldest = NOW.timestamp() - 3600
    assert attrs.pop("ml.feature_view.freshness") == pytest.approx(served_at - oldest, abs=1e-3)
    assert len(attrs.pop("ml.prediction.id")) == 32
    assert span.name == "feature_lookup customer_stats"
    assert attrs == {"ml.operation.name": "feature_lookup", "ml.feature_store.name": "feast",
                     "ml.feature_store.project": "shop", "ml.feature_view.name": "customer_stats",
                     "ml.feature.names": ("age", "income"), "ml.feature.customer_id": 1}


def test_each_request_names_its_own_features_of_a_view(exporter, instrument, store) -> None:
    instrument(FeastInstrumentor)
    requests = [["customer_stats:age"], ["customer_stats:age", "customer_stats:income"],
                ["customer_stats:income"], ["customer_stats:age"]]
    names = []
    for features in requests:
        store.get_online_features(features=features, entity_rows=[{"customer_id": 1}])
        (span,) = _lookups(exporter)
        names.append(span.attributes["ml.feature.names"])
        assert span.attributes["ml.feature_store.project"] == "shop"
    assert names == [("age",), ("age", "income"), ("income",), ("age",)]


def test_feature_service_over_two_views_gives_two_sibling_spans(exporter, instrument, store) -> None:
    instrument(FeastInstrumentor)
    service = store.get_feature_service("churn_features")
    store.get_online_features(features=service, entity_rows=[{"customer_id": 2}, {"customer_id": 3},
                                                             {"customer_id": 99}])
    orders, stats = _lookups(exporter)
    assert (orders.name, stats.name) == ("feature_lookup customer_orders", "feature_lookup customer_stats")
    assert orders.attributes["ml.feature_store.service"] == stats.attributes["ml.feature_store.service"] \
        == "churn_features"
    assert orders.attributes["ml.prediction.id"] == stats.attributes["ml.prediction.id"]
    assert (orders.start_time, orders.end_time) == (stats.start_time, stats.end_time)
    assert orders.parent == stats.parent
    assert orders.attributes["ml.feature.names"] == ("orders",)
    # customer 99 is unknown: the oldest value served is customer 3's (2 h), not a missing one
    served_at = stats.end_time / 1e9
    oldest = NOW.timestamp() - 7200
    assert stats.attributes["ml.feature_view.freshness"] == pytest.approx(served_at - oldest, abs=1e-3)
    assert orders.attributes["ml.feature_view.freshness"] == pytest.approx(
        served_at - (NOW.timestamp() - ORDERS_AGE_S), abs=1e-3)
    assert stats.attributes["ml.batch.size"] == 3
    assert stats.attributes["ml.feature.customer_id"] == (2, 3, 99)


def test_entity_keys_follow_the_capture_policy(exporter, instrument, store) -> None:
    instrument(FeastInstrumentor)
    otelml.configure(hash_features=["customer_id"], hash_salt="s1")
    store.get_online_features(features=["customer_orders:orders"], entity_rows=[{"customer_id": 2}])
    (span,) = _lookups(exporter)
    assert span.attributes["ml.feature.customer_id"] == "sha256:" + hashlib.sha256(b"s12").hexdigest()
    otelml.configure(drop_features=["customer_id"])
    store.get_online_features(features=["customer_orders:orders"], entity_rows=[{"customer_id": 2}])
    (span,) = _lookups(exporter)
    assert "ml.feature.customer_id" not in span.attributes
    assert span.attributes["ml.feature_view.name"] == "customer_orders"


def test_historical_features_span_without_rows(exporter, instrument, store) -> None:
    instrument(FeastInstrumentor)
    entity_df = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW, NOW]})
    job = store.get_historical_features(entity_df=entity_df, features=["customer_stats:age"])
    assert job.to_df()["age"].tolist() == [31.0, 45.0]
    (span,) = _lookups(exporter)
    assert span.name == "feature_lookup customer_stats"
    assert not any(k.startswith("ml.feature.customer") or k == "ml.feature_view.freshness"
                   for k in span.attributes)


def test_feast_errors_reach_the_caller_and_uninstrument_restores(exporter, instrument, store) -> None:
    original = FeatureStore.get_online_features
    instrumentor = instrument(FeastInstrumentor)
    with pytest.raises(Exception) as raised:
        store.get_online_features(features=["no_such_view:x"], entity_rows=[{"customer_id": 1}])
    (span,) = _lookups(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.type"].endswith(type(raised.value).__name__)
    instrumentor.uninstrument()
    assert FeatureStore.get_online_features is original
    store.get_online_features(features=["customer_stats:age"], entity_rows=[{"customer_id": 1}])
    assert _lookups(exporter) == []


def test_lookup_and_inference_share_the_prediction_over_otlp(store) -> None:
    """One request: Feast lookup -> XGBoost inference, exported over OTLP/HTTP to a real receiver."""
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"age": rng.uniform(20, 60, 300), "income": rng.uniform(20, 100, 300)})
    booster = xgb.train({"objective": "binary:logistic"},
                        xgb.DMatrix(train, label=(train["income"] > 50).astype(int)), 10)
    with OtlpSink() as sink:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sink.endpoint}/v1/traces")))
        feast_on, xgb_on = FeastInstrumentor(), XGBoostInstrumentor()
        feast_on.instrument(tracer_provider=provider)
        xgb_on.instrument(tracer_provider=provider)
        try:
            with provider.get_tracer("service").start_as_current_span("POST /predict"):
                row = store.get_online_features(features=["customer_stats:age", "customer_stats:income"],
                                                entity_rows=[{"customer_id": 2}]).to_df()
                score = booster.predict(xgb.DMatrix(row[["age", "income"]]))
        finally:
            feast_on.uninstrument()
            xgb_on.uninstrument()
            provider.shutdown()
        spans = {s.name: s for s in sink.wait_spans(3)}
    lookup, inference = spans["feature_lookup customer_stats"], spans["inference xgboost.Booster"]
    attrs = {name: {a.key: a.value for a in s.attributes} for name, s in spans.items()}
    lookup_attrs, inference_attrs = attrs[lookup.name], attrs[inference.name]
    assert lookup.trace_id == inference.trace_id == spans["POST /predict"].trace_id
    assert lookup_attrs["ml.prediction.id"].string_value == inference_attrs["ml.prediction.id"].string_value
    assert inference_attrs["ml.feature.income"].double_value == pytest.approx(80.5)
    assert inference_attrs["ml.prediction.score"].double_value == pytest.approx(float(score[0]), rel=1e-6)
    served_at = lookup.end_time_unix_nano / 1e9
    assert lookup_attrs["ml.feature_view.freshness"].double_value == pytest.approx(
        served_at - (NOW.timestamp() - AGES_S[2]), abs=1e-3)


async def test_async_online_lookup_gives_the_same_span(exporter, instrument, store) -> None:
    from tests.feast_venv.async_sqlite import AsyncSqliteOnlineStoreConfig

    root = store.repo_path
    async_store = FeatureStore(repo_path=str(root), config=_config(root, AsyncSqliteOnlineStoreConfig))
    refs, rows = ["customer_stats:age", "customer_stats:income"], [{"customer_id": 3}]
    expected = store.get_online_features(features=refs, entity_rows=rows).to_dict()
    instrument(FeastInstrumentor)
    with otelml.prediction(id="p-async"):
        got = await async_store.get_online_features_async(features=refs, entity_rows=rows)
    assert got.to_dict() == expected
    (span,) = _lookups(exporter)
    served_at = span.end_time / 1e9
    assert span.name == "feature_lookup customer_stats"
    assert span.attributes["ml.prediction.id"] == "p-async"
    assert span.attributes["ml.feature.customer_id"] == 3
    assert span.attributes["ml.feature_view.freshness"] == pytest.approx(served_at - (NOW.timestamp() - 7200),
                                                                         abs=1e-3)
    # Feast's own SQLite store has no async read: its error reaches the caller, the span records it
    with pytest.raises(NotImplementedError):
        await store.get_online_features_async(features=refs, entity_rows=rows)
    (failed,) = _lookups(exporter)
    assert failed.status.status_code is StatusCode.ERROR
