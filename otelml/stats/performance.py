"""Exact model-performance metrics in numpy, defined as `sklearn.metrics` defines them (tests compare).

Used by the sidecar's `performance` processor and by `otelml baseline build --score` (which stores the
reference metrics and the score calibration in the baseline file's `performance` section).

Binary (`y_true`, `y_pred` in {0, 1}, `score` = probability of class 1): accuracy, precision, recall,
f1 (0 when undefined, sklearn's `zero_division=0`), roc_auc (rank statistic with tied scores
averaged — no binning; undefined with one class), log_loss (probabilities clipped to [eps, 1-eps],
eps of float64), brier. Multiclass: accuracy, f1_macro (over the union of true and predicted
classes). Regression: mae, rmse, mape (|error| / max(|y|, eps)), r2 (1 when perfect, 0 when the
truth is constant and the fit is not — sklearn's `force_finite`).

Estimated (confidence-based, CBPE-style) for binary classification: with calibrated probabilities
p_i the expected confusion matrix is TP = Σ p_i [ŷ_i = 1], FP = Σ (1 - p_i) [ŷ_i = 1], FN = Σ p_i [ŷ_i = 0],
TN = Σ (1 - p_i) [ŷ_i = 0], and the expected ROC curve sweeps the score with expected TP/FP counts.
`Calibration` maps raw scores to probabilities by isotonic regression (pool adjacent violators)
fitted on labelled reference predictions, when that improves on the raw scores (`fit_if_needed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BINARY",
    "HIGHER_IS_BETTER",
    "MULTICLASS",
    "REGRESSION",
    "Calibration",
    "binary_metrics",
    "estimated_binary",
    "multiclass_metrics",
    "reference_section",
    "regression_metrics",
    "roc_auc",
]

BINARY = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
MULTICLASS = ("accuracy", "f1_macro")
REGRESSION = ("mae", "rmse", "mape", "r2")
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "f1_macro", "r2"}
_EPS = float(np.finfo(np.float64).eps)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting 1/2."""
    pos = y_true == 1
    n_pos = int(pos.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    # average ranks of ties: first/last index of each run of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(score)]
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
    t, p = y_true.astype(bool), y_pred.astype(bool)
    tp, fp, fn = float(np.sum(t & p)), float(np.sum(~t & p)), float(np.sum(t & ~p))
    out = {
        "accuracy": float(np.mean(t == p)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }
    if score is not None and not np.isnan(score).any():
        auc = roc_auc(t.astype(np.int8), score)
        if auc is not None:
            out["roc_auc"] = auc
        q = np.clip(score, _EPS, 1 - _EPS)
        out["log_loss"] = float(-np.mean(np.where(t, np.log(q), np.log1p(-q))))
        out["brier"] = float(np.mean((score - t) ** 2))
    return out


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    classes = np.unique(np.concatenate([y_true, y_pred]))
    f1s = []
    for c in classes:
        t, p = y_true == c, y_pred == c
        tp, fp, fn = np.sum(t & p), np.sum(~t & p), np.sum(t & ~p)
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return {"accuracy": float(np.mean(y_true == y_pred)), "f1_macro": float(np.mean(f1s))}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = y_true - y_pred
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    perfect = 1.0 if ss_res == 0 else 0.0  # constant truth: sklearn's force_finite
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else perfect
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(np.mean(np.abs(err) / np.maximum(np.abs(y_true), _EPS))),
        "r2": r2,
    }


@dataclass
class Calibration:
    """Isotonic map from raw scores to P(y = 1): step function through (`x`, `y`), clipped at the ends."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, score: np.ndarray, y_true: np.ndarray) -> Calibration:
        order = np.argsort(score, kind="mergesort")
        xs, ys = score[order].astype(float), y_true[order].astype(float)
        # pool adjacent violators on blocks (value, weight, first x, last x)
        values, weights, lo, hi = [], [], [], []
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            values.append(y)
            weights.append(1.0)
            lo.append(x)
            hi.append(x)
            while len(values) > 1 and values[-2] >= values[-1]:
                w = weights[-2] + weights[-1]
                v = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
                values[-2:], weights[-2:] = [v], [w]
                lo[-2:], hi[-2:] = [lo[-2]], [hi[-1]]
        x_knots = np.array([v for pair in zip(lo, hi, strict=True) for v in pair])
        y_knots = np.repeat(np.array(values), 2)
        return cls(x_knots, y_knots)

    @classmethod
    def identity(cls) -> Calibration:
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]))

    @classmethod
    def fit_if_needed(cls, score: np.ndarray, y_true: np.ndarray, seed: int = 0) -> Calibration:
        """Isotonic calibration only if it helps: fitted on half of the rows, it must lower the Brier score
        of the other half below the raw scores'; otherwise the scores are used as they are (as NannyML
        decides). An isotonic map fitted on a finite sample is overconfident at its ends, which inflates
        estimated ROC AUC when the scores were calibrated already."""
        score = np.asarray(score, dtype=np.float64)
        y = np.asarray(y_true, dtype=np.float64)
        order = np.random.default_rng(seed).permutation(len(score))
        a, b = order[: len(order) // 2], order[len(order) // 2 :]
        if len(a) < 20 or len(np.unique(y[a])) < 2:
            return cls.fit(score, y)
        half = cls.fit(score[a], y[a])
        raw = float(np.mean((score[b] - y[b]) ** 2))
        calibrated = float(np.mean((half(score[b]) - y[b]) ** 2))
        return cls.fit(score, y) if calibrated < raw else cls.identity()

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return np.interp(score, self.x, self.y)

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Calibration:
        return cls(np.asarray(d["x"], dtype=float), np.asarray(d["y"], dtype=float))


def estimated_binary(y_pred: np.ndarray, score: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Expected metrics when P(y_i = 1) = prob_i (the calibrated `score`) and the model predicted y_pred;
    the expected ROC curve sweeps the raw score."""
    p1 = y_pred.astype(bool)
    tp, fp = float(prob[p1].sum()), float((1 - prob[p1]).sum())
    fn, tn = float(prob[~p1].sum()), float((1 - prob[~p1]).sum())
    n = len(prob)
    out = {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }
    pos, neg = float(prob.sum()), float((1 - prob).sum())
    if pos > 0 and neg > 0:
        order = np.argsort(-score, kind="mergesort")
        tpr = np.r_[0.0, np.cumsum(prob[order]) / pos]
        fpr = np.r_[0.0, np.cumsum(1 - prob[order]) / neg]
        out["roc_auc"] = float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))
    return out


def reference_section(y_true: Any, score: Any, y_pred: Any | None = None) -> dict[str, Any]:
    """The `performance` section of a baseline file for a binary classifier: reference metrics and the
    isotonic calibration of `score` (probability of class 1); `y_pred` defaults to score >= 0.5."""
    t = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if not np.isfinite(s).all():
        raise ValueError("the score column has missing or non-finite values")
    classes = {str(v).lower() for v in np.unique(t)}
    if not classes <= {"0", "1", "true", "false", "0.0", "1.0"}:
        raise ValueError(f"the target must be binary (0/1 or true/false), found {sorted(classes)[:5]}")
    truth = np.isin(np.char.lower(t.astype(str)), ("1", "true", "1.0")).astype(np.int8)
    if y_pred is None:
        pred = (s >= 0.5).astype(np.int8)
    else:
        pred = np.isin(np.char.lower(np.asarray(y_pred).astype(str)), ("1", "true", "1.0")).astype(np.int8)
    return {
        "task": "binary",
        "rows": len(t),
        "metrics": binary_metrics(truth, pred, s),
        "calibration": Calibration.fit_if_needed(s, truth).to_json(),
    }
