"""Train the example credit-risk model (a scikit-learn Pipeline on a DataFrame) and register it in MLflow.

The tracking and registry store is MLFLOW_TRACKING_URI (the demo uses a SQLite file); the model is
logged in a run, registered as `credit_risk` and given the alias `champion`, which the model service
loads (`models:/credit_risk@champion`).
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from examples.credit_data import CATEGORICAL, NUMERIC, applications, default_labels

__all__ = ["ALIAS", "MODEL_NAME", "fit", "register"]

MODEL_NAME = "credit_risk"
ALIAS = "champion"
EXPERIMENT = "credit-risk"


def fit(rows: int = 20_000, seed: int = 0) -> tuple[Pipeline, float, pd.DataFrame]:
    """The model fitted on 80% of `rows` synthetic applications, its holdout ROC AUC and the training
    rows (with their `defaulted` outcome)."""
    df = applications(rows, seed=seed)
    y = default_labels(df, seed=seed + 1)
    split = int(rows * 0.8)
    prep = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(df.iloc[:split], y[:split])
    auc = float(roc_auc_score(y[split:], model.predict_proba(df.iloc[split:])[:, 1]))
    return model, auc, df.iloc[:split].assign(defaulted=y[:split])


def register(
    rows: int = 20_000,
    seed: int = 0,
    training_csv: Path | None = None,
    artifacts: Path | None = None,
    alias: str | None = ALIAS,
) -> tuple[float, str]:
    """Fit, log the model in an MLflow run, register it as MODEL_NAME with `alias` (None: no alias);
    returns the holdout ROC AUC and the registered version. `artifacts`: where a new experiment keeps
    its files (default: `mlartifacts` next to a SQLite tracking database)."""
    import mlflow
    import mlflow.sklearn

    model, auc, training = fit(rows, seed)
    if training_csv is not None:
        training.to_csv(training_csv, index=False)
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(EXPERIMENT) is None:
        uri = mlflow.get_tracking_uri()
        if artifacts is None and uri.startswith("sqlite:///"):
            artifacts = Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts"
        location = artifacts.resolve().as_uri() if artifacts else None
        client.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    example = training[NUMERIC + CATEGORICAL].head(3).astype({c: "float64" for c in NUMERIC})
    named = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
    with mlflow.start_run(), warnings.catch_warnings():
        # the signature's output is the integer class: MLflow's hint about missing integers does not apply
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.log_metric("holdout_roc_auc", auc)
        logged = mlflow.sklearn.log_model(model, input_example=example, **named)
    version = mlflow.register_model(logged.model_uri, MODEL_NAME).version
    if alias:
        client.set_registered_model_alias(MODEL_NAME, alias, version)
    return auc, str(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="MLflow tracking/registry URI, e.g. sqlite:///model/mlflow.db")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--training-csv", type=Path, default=None)
    args = parser.parse_args()
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    auc, version = register(rows=args.rows, training_csv=args.training_csv)
    print(f"registered {MODEL_NAME} version {version} as @{ALIAS} (holdout ROC AUC {auc:.3f})")


if __name__ == "__main__":
    main()
