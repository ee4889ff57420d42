"""Windows of predictions per model / version / segment, their labels, and their evaluation.

A window holds, per prediction: id, trace/span id, predicted value, score and (once joined) label.
Labels are written into the window their prediction belongs to, also after it closed, as long as it
is among the `max_windows` kept per key; its realized metrics are then recomputed from scratch
(exact, no sketches). `ModelReference` holds what a model version is compared with: its task, the
reference metrics and the score calibration (from a baseline file or from warm-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otelml_collector.processors.performance.metrics import (
    HIGHER_IS_BETTER,
    Calibration,
    binary_metrics,
    estimated_binary,
    multiclass_metrics,
    regression_metrics,
)

__all__ = [
    "ModelReference",
    "Window",
    "WindowKey",
    "estimate",
    "evaluate",
    "infer_task",
    "is_positive",
    "records_column",
    "task_from_span",
]

WindowKey = tuple[str, str, str, str]
"""(model, version, segment key, segment value); segment key "" is the model version as a whole."""


def is_positive(value: Any, positive_label: str | None) -> bool:
    if positive_label is not None:
        return _text(value) == positive_label
    return _text(value).lower() in ("1", "true")


def positives(values: list[Any], positive_label: str | None) -> np.ndarray:
    """`is_positive` of every value as an int8 array (vectorised for numbers)."""
    if positive_label is None and values:
        try:
            return (np.asarray(values, dtype=np.float64) == 1.0).astype(np.int8)
        except (TypeError, ValueError):
            pass
    return np.array([is_positive(v, positive_label) for v in values], dtype=np.int8)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infer_task(preds: list[Any], labels: list[Any], has_score: bool, positive_label: str | None) -> str:
    values = [v for v in preds + labels if v is not None]
    if positive_label is not None:
        return "binary"
    texts = {_text(v).lower() for v in values}
    if texts <= {"0", "1", "true", "false"}:
        return "binary"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        if not has_score and any(isinstance(v, float) and not v.is_integer() for v in values):
            return "regression"
        return "multiclass" if len(texts) <= 100 else "regression"
    return "multiclass"


def task_from_span(span_task: str | None, guess: str) -> str:
    """The performance task from `ml.model.task` on the inference spans (`classification` |
    `regression`, as the library sets it from the estimator) and the guess from the values: the span
    decides regression vs classification, the values binary vs multiclass. Other or no span task: the
    guess."""
    if span_task == "regression":
        return "regression"
    if span_task == "classification":
        return "binary" if guess == "binary" else "multiclass"
    return guess


@dataclass
class ModelReference:
    task: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    source: str = ""  # baseline file, or "warmup"
    warmup: list[tuple[Any, Any, float | None]] = field(default_factory=list)  # (pred, label, score)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metrics": self.metrics,
            "calibration": self.calibration.to_json() if self.calibration else None,
            "source": self.source,
            "warmup": self.warmup,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelReference:
        cal = d.get("calibration")
        return cls(
            d.get("task"),
            d.get("metrics", {}),
            Calibration.from_json(cal) if cal else None,
            d.get("source", ""),
            [tuple(w) for w in d.get("warmup", [])],
        )


@dataclass
class Window:
    key: WindowKey
    seq: int
    start_ns: int
    opened_at: float  # wall-clock seconds (for `window.seconds`)
    end_ns: int = 0
    closed: bool = False
    pids: list[str] = field(default_factory=list)
    trace_ids: list[bytes] = field(default_factory=list)
    span_ids: list[bytes] = field(default_factory=list)
    preds: list[Any] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    times: list[int] = field(default_factory=list)  # prediction end times (ns), for label delays
    label_count: int = 0
    realized: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)
    breached: dict[str, bool] = field(default_factory=dict)  # "realized:f1" -> below reference
    alerted: list[str] = field(default_factory=list)
    breach_counted: set[str] = field(default_factory=set)  # counted in ml.performance.breaches
    dirty: bool = False  # labels changed since the last evaluation

    def __len__(self) -> int:
        return len(self.pids)

    @property
    def coverage(self) -> float:
        return self.label_count / len(self.pids) if self.pids else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "seq": self.seq,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "opened_at": self.opened_at,
            "closed": self.closed,
            "pids": self.pids,
            "trace_ids": [t.hex() for t in self.trace_ids],
            "span_ids": [s.hex() for s in self.span_ids],
            "preds": self.preds,
            "scores": self.scores,
            "labels": self.labels,
            "times": self.times,
            "realized": self.realized,
            "estimated": self.estimated,
            "breached": self.breached,
            "alerted": self.alerted,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Window:
        w = cls(tuple(d["key"]), d["seq"], d["start_ns"], d["opened_at"], d["end_ns"], d["closed"])  # type: ignore[arg-type]
        w.pids, w.preds, w.scores, w.labels, w.times = (
            d["pids"],
            d["preds"],
            d["scores"],
            d["labels"],
            d["times"],
        )
        w.trace_ids = [bytes.fromhex(t) for t in d["trace_ids"]]
        w.span_ids = [bytes.fromhex(s) for s in d["span_ids"]]
        w.label_count = sum(label is not None for label in w.labels)
        w.realized, w.estimated, w.breached, w.alerted = (
            d["realized"],
            d["estimated"],
            d["breached"],
            d["alerted"],
        )
        return w


def _scores(window: Window, rows: list[int]) -> np.ndarray | None:
    values = [window.scores[i] for i in rows]
    if None in values:
        return None
    out = np.asarray(values, dtype=np.float64)
    return None if np.isnan(out).any() else out


def evaluate(window: Window, task: str, positive_label: str | None) -> None:
    """Recompute the window's realized metrics from its labelled rows (none: no realized value)."""
    rows = [i for i, label in enumerate(window.labels) if label is not None]
    window.realized = {}
    window.dirty = False
    if not rows:
        return
    preds = [window.preds[i] for i in rows]
    labels = [window.labels[i] for i in rows]
    if task == "binary":
        y_true, y_pred = positives(labels, positive_label), positives(preds, positive_label)
        window.realized = binary_metrics(y_true, y_pred, _scores(window, rows))
    elif task == "multiclass":
        window.realized = multiclass_metrics(
            np.array([_text(v) for v in labels]), np.array([_text(v) for v in preds])
        )
    else:
        window.realized = regression_metrics(
            np.asarray(labels, dtype=np.float64), np.asarray(preds, dtype=np.float64)
        )


def estimate(window: Window, ref: ModelReference, positive_label: str | None) -> None:
    """The confidence-based estimate of a binary classifier's window (needs a calibration and scores)."""
    score = _scores(window, list(range(len(window))))
    if ref.calibration is None or score is None or not len(score):
        return
    y_pred = positives(window.preds, positive_label)
    window.estimated = estimated_binary(y_pred, score, ref.calibration(score))


def breach(metric: str, value: float, reference: float, threshold: float) -> bool:
    """The metric is worse than the reference by more than `threshold` (absolute)."""
    if metric in HIGHER_IS_BETTER:
        return value < reference - threshold
    return value > reference + threshold


def wrongest(window: Window, task: str, positive_label: str | None, k: int, ref: ModelReference) -> list[int]:
    """Rows of the `k` wrongest predictions: labelled ones by error (|label - score| for binary with
    scores, misclassified ones, |error| for regression); without labels, the least confident."""
    rows = [i for i, label in enumerate(window.labels) if label is not None]
    if rows:
        if task == "binary":
            y = positives([window.labels[i] for i in rows], positive_label).astype(float)
            score = _scores(window, rows)
            if score is not None:
                err = np.abs(y - score)
            else:
                err = np.abs(y - positives([window.preds[i] for i in rows], positive_label))
        elif task == "multiclass":
            err = np.array([_text(window.labels[i]) != _text(window.preds[i]) for i in rows], dtype=float)
        else:
            err = np.abs(np.array([float(window.labels[i]) - float(window.preds[i]) for i in rows]))
        order = np.argsort(-err, kind="mergesort")[:k]
        return [rows[j] for j in order if err[j] > 0]
    score = _scores(window, list(range(len(window))))
    if score is None or ref.calibration is None:
        return []
    prob = ref.calibration(score)
    doubt = np.abs(positives(window.preds, positive_label) - prob)
    return [int(i) for i in np.argsort(-doubt, kind="mergesort")[:k]]


def records_column(values: Any, n: int) -> list[Any]:
    """A records column as a list, NaN (missing) as None."""
    if values is None:
        return [None] * n
    out = values.tolist()
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            return [None if math.isnan(v) else v for v in out]
        return out
    return [None if isinstance(v, float) and math.isnan(v) else v for v in out]
