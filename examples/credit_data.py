"""Synthetic loan applications and their default outcome, for the example credit-risk model.

The data are generated (no downloads): customer profile features live in the feature store, request
features come with each application. `shift` moves the applicant population to show drift, and
`default_labels(..., shift=)` changes why that population defaults (concept drift), so the model that
was right on the training population is wrong on the shifted one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CATEGORICAL", "NUMERIC", "PROFILE_COLUMNS", "REQUEST_COLUMNS", "applications", "default_labels"]

PROFILE_COLUMNS = [
    "income",
    "debt_ratio",
    "credit_history_months",
    "open_accounts",
    "utilization",
    "age",
    "region",
    "plan",
]
REQUEST_COLUMNS = ["amount", "term_months"]
NUMERIC = [c for c in PROFILE_COLUMNS + REQUEST_COLUMNS if c not in ("region", "plan")]
CATEGORICAL = ["region", "plan"]
REGIONS = np.array(["north", "south", "east", "west"])
PLANS = np.array(["basic", "plus", "premium"])


def applications(n: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """`n` applications. `shift` (in standard deviations) lowers income and raises utilization."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.8, sigma=0.45, size=n) * np.exp(-0.45 * shift)
    return pd.DataFrame(
        {
            "income": income.round(2),
            "debt_ratio": rng.beta(2.0, 5.0, size=n).round(4),
            "credit_history_months": rng.gamma(4.0, 24.0, size=n).round(0),
            "open_accounts": rng.poisson(4.0, size=n).astype(float),
            "utilization": np.clip(rng.beta(2.0, 3.5, size=n) + 0.2 * shift, 0.0, 1.0).round(4),
            "age": np.clip(rng.normal(42.0, 12.0, size=n), 18, 90).round(0),
            "region": rng.choice(REGIONS, size=n, p=[0.3, 0.3, 0.2, 0.2]),
            "plan": rng.choice(PLANS, size=n, p=[0.6, 0.3, 0.1]),
            "amount": rng.lognormal(mean=9.0, sigma=0.6, size=n).round(2),
            "term_months": rng.choice([12.0, 24.0, 36.0, 60.0], size=n),
        }
    )


def default_labels(df: pd.DataFrame, seed: int = 1, shift: float = 0.0) -> np.ndarray:
    """Ground truth: 1 when the applicant defaulted. A known logistic function of the features; for a
    population shifted by `shift` (as `applications(shift=)`), blended with weight min(shift, 1) into
    the downturn's function (`_downturn_logit`): about as many defaults, for other reasons."""
    rng = np.random.default_rng(seed)
    weight = min(max(shift, 0.0), 1.0)
    logit = _training_logit(df)
    if weight:
        logit = (1.0 - weight) * logit + weight * _downturn_logit(df)
    return (rng.random(len(df)) < 1.0 / (1.0 + np.exp(-logit))).astype(int)


def _training_logit(df: pd.DataFrame) -> pd.Series:
    return (
        -2.2
        + 2.5 * df["debt_ratio"]
        + 2.0 * df["utilization"]
        - 0.9 * (np.log(df["income"]) - 10.8)
        + 0.35 * (np.log(df["amount"]) - 9.0)
        - 0.004 * (df["credit_history_months"] - 96)
        + 0.3 * (df["plan"] == "basic")
        + 0.01 * (df["term_months"] - 24)
    )


def _downturn_logit(df: pd.DataFrame) -> pd.Series:
    """In the downturn, card utilization and low income no longer mark the defaulters (a relief
    programme carries revolving balances); long terms, young borrowers and many open accounts do. The
    model learned the training function, so it ranks this population worse than at random (ROC AUC
    about 0.46 against 0.71) at a similar default rate."""
    return (
        -1.2
        + 1.0 * df["debt_ratio"]
        - 2.5 * (df["utilization"] - 0.6)
        + 0.6 * (np.log(df["income"]) - 10.8)
        + 0.04 * (df["term_months"] - 24)
        - 0.03 * (df["age"] - 42)
        + 0.2 * (df["open_accounts"] - 4)
    )
