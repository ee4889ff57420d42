"""Train and persist the example credit-risk model: a scikit-learn Pipeline on a DataFrame."""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from examples.credit_data import CATEGORICAL, NUMERIC, applications, default_labels

__all__ = ["MODEL_NAME", "MODEL_VERSION", "train"]

MODEL_NAME = "credit_risk"
MODEL_VERSION = "2026.11"


def train(out: Path, rows: int = 20_000, seed: int = 0, training_csv: Path | None = None) -> float:
    """Fit the model on `rows` synthetic applications, save it to `out`; return the holdout ROC AUC."""
    df = applications(rows, seed=seed)
    y = default_labels(df, seed=seed + 1)
    split = int(rows * 0.8)
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), NUMERIC),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    model.fit(df.iloc[:split], y[:split])
    auc = float(roc_auc_score(y[split:], model.predict_proba(df.iloc[split:])[:, 1]))
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out)
    if training_csv is not None:
        df.iloc[:split].assign(defaulted=y[:split]).to_csv(training_csv, index=False)
    return auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("examples/.artifacts/credit_risk.joblib"))
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--training-csv", type=Path, default=None)
    args = parser.parse_args()
    auc = train(args.out, rows=args.rows, training_csv=args.training_csv)
    print(f"saved {args.out} (holdout ROC AUC {auc:.3f})")


if __name__ == "__main__":
    main()
