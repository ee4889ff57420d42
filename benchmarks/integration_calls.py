"""The calls ``bench_overhead_instructions.py --integrations`` counts: a native XGBoost booster prediction
and a Feast online lookup, each (a) bare, (b) inside a hand-written OTel span with the same name and
attributes as otelml's, (c) with otelml's instrumentor."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

N_FEATURES = 20
FEAST_REFS = ["customer_stats:age", "customer_stats:income"]
FEAST_ROWS = [{"customer_id": 2}]


def booster_variants(provider: Any, variant: str) -> Callable[[], Any]:
    """One single-row ``Booster.inplace_predict`` call of a binary booster with 20 features."""
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, N_FEATURES))
    y = (X @ rng.normal(size=N_FEATURES) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1},
                        xgb.DMatrix(X, label=y), 50)
    row = X[:1].copy()
    if variant == "c":
        from otelml.instrumentation.xgboost import XGBoostInstrumentor

        XGBoostInstrumentor().instrument(tracer_provider=provider)
    if variant != "b":
        return lambda: booster.inplace_predict(row)
    tracer = provider.get_tracer("hand-written")
    keys = [f"ml.feature.f{i}" for i in range(N_FEATURES)]
    static = {"ml.operation.name": "inference", "ml.model.name": "xgboost.Booster",
              "ml.model.framework": "xgboost", "ml.model.task": "classification"}
    getrandbits = random.getrandbits

    def call() -> Any:
        attrs = dict(zip(keys, row[0].tolist(), strict=True))
        attrs.update(static)
        attrs["ml.prediction.id"] = "%032x" % getrandbits(128)  # noqa: UP031
        with tracer.start_as_current_span("inference xgboost.Booster", attributes=attrs) as span:
            proba = booster.inplace_predict(row)
            p = proba.tolist()[0]
            span.set_attributes({"ml.prediction.value": int(p > 0.5), "ml.prediction.score": p})
        return proba

    return call


def lightgbm_variants(provider: Any, variant: str) -> Callable[[], Any]:
    """One single-row native ``lightgbm.Booster.predict`` call of a binary booster with 20 features. The
    hand-written span gets the static attributes otelml's span has (read once from an instrumented call).
    OpenMP on one thread: its spinning workers would make the calling thread's count vary by a third."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import lightgbm as lgb
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otelml.instrumentation.lightgbm import LightGBMInstrumentor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, N_FEATURES))
    y = (X @ rng.normal(size=N_FEATURES) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 15, "num_threads": 1, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, label=y), 50)
    row = X[:1].copy()
    if variant == "c":
        LightGBMInstrumentor().instrument(tracer_provider=provider)
    if variant != "b":
        return lambda: booster.predict(row)
    probe, memory = TracerProvider(), InMemorySpanExporter()
    probe.add_span_processor(SimpleSpanProcessor(memory))
    LightGBMInstrumentor().instrument(tracer_provider=probe)
    booster.predict(row)
    LightGBMInstrumentor().uninstrument()
    (seen,) = memory.get_finished_spans()
    per_call = ("ml.feature.", "ml.prediction.")
    static = {k: v for k, v in (seen.attributes or {}).items() if not k.startswith(per_call)}
    keys = [f"ml.feature.f{i}" for i in range(N_FEATURES)]
    tracer = provider.get_tracer("hand-written")
    getrandbits = random.getrandbits

    def call() -> Any:
        attrs = dict(zip(keys, row[0].tolist(), strict=True))
        attrs.update(static)
        attrs["ml.prediction.id"] = "%032x" % getrandbits(128)  # noqa: UP031
        with tracer.start_as_current_span(seen.name, attributes=attrs) as span:
            proba = booster.predict(row)
            p = proba.tolist()[0]
            span.set_attributes({"ml.prediction.value": int(p > 0.5), "ml.prediction.score": p})
        return proba

    return call


def make_feast_repo(root: Path) -> None:
    """A Feast repository (local provider, SQLite online store) with one view, applied and materialized."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float32

    now = datetime.now(UTC).replace(microsecond=0)
    import pandas as pd

    pd.DataFrame({"customer_id": [1, 2, 3], "age": [31.0, 45.0, 27.0], "income": [52.0, 80.5, 33.0],
                  "event_timestamp": [now - timedelta(minutes=m) for m in (60, 2, 120)]},
                 ).to_parquet(root / "customers.parquet")
    customer = Entity(name="customer", join_keys=["customer_id"])
    stats = FeatureView(name="customer_stats", entities=[customer], ttl=timedelta(days=2),
                        schema=[Field(name="age", dtype=Float32), Field(name="income", dtype=Float32)],
                        source=FileSource(path=str(root / "customers.parquet"),
                                          timestamp_field="event_timestamp"))
    store = FeatureStore(repo_path=str(root), config=_feast_config(root))
    store.apply([customer, stats])
    store.materialize(now - timedelta(days=1), now + timedelta(seconds=1))


def _feast_config(root: Path) -> Any:
    from feast import RepoConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    return RepoConfig(project="bench", registry=str(root / "registry.db"), provider="local",
                      online_store=SqliteOnlineStoreConfig(path=str(root / "online.db")),
                      entity_key_serialization_version=3, repo_path=str(root))


def feast_variants(provider: Any, variant: str, root: Path) -> Callable[[], Any]:
    """One ``get_online_features`` call: two features of one view, one entity row."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(root), config=_feast_config(root))
    if variant == "c":
        from otelml.instrumentation.feast import FeastInstrumentor

        FeastInstrumentor().instrument(tracer_provider=provider)
    if variant != "b":
        return lambda: store.get_online_features(features=FEAST_REFS, entity_rows=FEAST_ROWS)
    tracer = provider.get_tracer("hand-written")
    static = {"ml.operation.name": "feature_lookup", "ml.feature_store.name": "feast",
              "ml.feature_store.project": "bench", "ml.feature_view.name": "customer_stats",
              "ml.feature.names": ["age", "income"]}
    getrandbits = random.getrandbits

    def call() -> Any:
        attrs = dict(static)
        attrs["ml.prediction.id"] = "%032x" % getrandbits(128)  # noqa: UP031
        attrs["ml.feature.customer_id"] = FEAST_ROWS[0]["customer_id"]
        with tracer.start_as_current_span("feature_lookup customer_stats", attributes=attrs) as span:
            response = store.get_online_features(features=FEAST_REFS, entity_rows=FEAST_ROWS)
            proto = response.proto
            oldest = min(ts.seconds + ts.nanos * 1e-9
                         for name, vector in zip(proto.metadata.feature_names.val, proto.results, strict=True)
                         if name != "customer_id"
                         for ts, status in zip(vector.event_timestamps, vector.statuses, strict=True)
                         if status == 1)
            span.set_attribute("ml.feature_view.freshness", time.time() - oldest)
        return response

    return call
