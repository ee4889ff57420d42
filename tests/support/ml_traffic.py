"""A small instrumented ML service as a process: a scikit-learn model behind otelml, its spans sent to a
sidecar with the OTel SDK's OTLP/gRPC exporter, labels recorded with `otelml.record_label`.

    python -m tests.support.ml_traffic --endpoint 127.0.0.1:4317 --stable 400 --shifted 800

The first `--stable` predictions look like the training data; after them feature `income` shifts by
two standard deviations, the labels stop following the model (performance drops) and some `income`
values leave the range the quality expectations allow. Prints one JSON line: the prediction ids.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sklearn.linear_model import LogisticRegression

import otelml
from otelml.instrumentation.sklearn import SklearnInstrumentor

FEATURES = ("income", "age", "debt_ratio", "tenure")
MODEL, VERSION = "credit", "1"


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--endpoint", required=True, help="sidecar OTLP/gRPC host:port")
    args.add_argument("--stable", type=int, default=400)
    args.add_argument("--shifted", type=int, default=800)
    args.add_argument("--seed", type=int, default=7)
    opts = args.parse_args(argv)

    rng = np.random.default_rng(opts.seed)
    X = rng.normal(size=(2000, len(FEATURES)))
    y = (X[:, 0] + X[:, 1] + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    provider = TracerProvider(resource=Resource.create({"service.name": "credit-model"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=opts.endpoint, insecure=True), schedule_delay_millis=200)
    )
    otelml.configure(tracer_provider=provider)
    SklearnInstrumentor().instrument(tracer_provider=provider)
    frame = pd.DataFrame(X, columns=list(FEATURES))
    model = otelml.register_model(LogisticRegression().fit(frame, y), name=MODEL, version=VERSION)
    ids: list[str] = []
    for i in range(opts.stable + opts.shifted):
        shifted = i >= opts.stable
        row = rng.normal(size=(1, len(FEATURES)))
        if shifted:
            row[0, 0] += 2.0
        with otelml.prediction():
            model.predict_proba(pd.DataFrame(row, columns=list(FEATURES)))
            pid = otelml.current_prediction_id()
        assert pid is not None
        ids.append(pid)
        truth = int(row[0, 0] + row[0, 1] + rng.normal(scale=0.5) > 0)
        otelml.record_label(pid, int(rng.integers(0, 2)) if shifted else truth)
    provider.force_flush(30_000)
    provider.shutdown()
    print(json.dumps({"prediction_ids": ids}))


if __name__ == "__main__":
    main()
