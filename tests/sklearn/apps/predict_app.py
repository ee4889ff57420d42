"""A model service as a user writes it: ``import otelml.auto`` first, then train and predict.

Prints one JSON line per prediction call: the method, the inputs as columns and the output, so the test
can compare what the OTLP receiver got with what the model really saw and returned.
Usage: ``python predict_app.py plain|private``
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import otelml.auto  # noqa: F401  (the one line under test)

rng = np.random.default_rng(42)


def emit(method: str, X: pd.DataFrame | np.ndarray, out: np.ndarray) -> None:
    if isinstance(X, pd.DataFrame):
        columns = {str(c): X[c].tolist() for c in X.columns}
    else:
        columns = {f"f{j}": X[:, j].tolist() for j in range(X.shape[1])}
    print(json.dumps({"method": method, "features": columns, "output": out.tolist()}), flush=True)


def plain() -> None:
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    emit("predict_proba", X[:1], clf.predict_proba(X[:1]))
    emit("predict", X[1:4], clf.predict(X[1:4]))
    reg = LinearRegression().fit(X, X @ np.array([2.0, -1.0, 0.5]))
    emit("predict", X[4:5], reg.predict(X[4:5]))


def private() -> None:
    n = 60
    df = pd.DataFrame({
        "ssn": [f"SECRET-SSN-{i:04d}" for i in range(n)],
        "email": [f"user{i}@example.com" for i in range(n)],
        "home_address": [f"{i} Zebulon Street" for i in range(n)],
        "income": rng.normal(50.0, 10.0, n),
    })
    y = (df["income"] > 50).astype(int)
    model = Pipeline([
        ("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"),
                                     ["ssn", "email", "home_address"])], remainder="passthrough")),
        ("clf", LogisticRegression()),
    ]).fit(df, y)
    emit("predict_proba", df.iloc[[3]], model.predict_proba(df.iloc[[3]]))
    emit("predict", df.iloc[5:8], model.predict(df.iloc[5:8]))


if __name__ == "__main__":
    {"plain": plain, "private": private}[sys.argv[1]]()
