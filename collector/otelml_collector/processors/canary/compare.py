"""Two versions of one model compared on their stored calls: the checks and the verdict.

Mode: `shadow` when the candidate's calls carry `ml.deployment.role` = `shadow` (each prediction is
served by the primary and mirrored to the shadow), else `canary` (a traffic split). Checks, each
`pass`, `fail` or `skipped` (not enough data), with the figures that decide it:

- `prediction_shift`: numeric predictions (the score when both versions give one, else the value) by
  the two-sample KS distance (`scipy.stats.ks_2samp`), classes by total variation distance with a
  chi-square test of the 2 x k table (`scipy.stats.chi2_contingency`); fails when the distance exceeds
  `max_prediction_shift` and the p-value is below `p_value`.
- `agreement` (shadow): share of predictions where the shadow's value equals the primary's (numbers
  within 1e-9); fails below `min_agreement`.
- `performance`: the metric (`otelml.stats.performance`, as `sklearn.metrics`) on each version's
  labelled predictions; fails when the candidate is worse by more than `max_performance_drop`;
  skipped until both versions have `min_labels` labels.
- `latency`: p95 of successful calls; fails when candidate / baseline exceeds `max_latency_ratio`.
- `error_rate`: fails when the candidate's rate exceeds the baseline's by more than
  `max_error_increase` and a one-sided Fisher exact test gives a p-value below `p_value`.

Verdict: `inconclusive` while either version has fewer than `min_samples` calls; else `rollback` when
any check fails; else `promote`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import chi2_contingency, fisher_exact, ks_2samp

from otelml.stats.performance import (
    HIGHER_IS_BETTER,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from otelml_collector.predstore.calls import Call
from otelml_collector.processors.canary.config import CanaryConfig

__all__ = ["compare"]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _check(name: str, status: str, **figures: Any) -> dict[str, Any]:
    return {"name": name, "status": status, **figures}


def _prediction_shift(base: list[Call], cand: list[Call], cfg: CanaryConfig) -> dict[str, Any]:
    use_score = all(c.score is not None for c in base + cand)
    pick = (lambda c: c.score) if use_score else (lambda c: c.value)
    a, b = [pick(c) for c in base if not c.error], [pick(c) for c in cand if not c.error]
    if not a or not b:
        return _check("prediction_shift", "skipped", detail="no successful calls")
    na, nb = [_number(v) for v in a], [_number(v) for v in b]
    classes = sorted({str(v) for v in a + b})
    numeric = all(v is not None for v in na + nb) and (use_score or len(classes) > 20)
    if numeric:
        res = ks_2samp(np.asarray(na, float), np.asarray(nb, float))
        value, p, method = float(res.statistic), float(res.pvalue), "ks"
    else:
        table = np.array([[sum(str(v) == k for v in side) for k in classes] for side in (a, b)], float)
        shares = table / table.sum(axis=1, keepdims=True)
        value = float(0.5 * np.abs(shares[0] - shares[1]).sum())
        p = float(chi2_contingency(table)[1]) if len(classes) > 1 else 1.0
        method = "total_variation"
    failed = value > cfg.max_prediction_shift and p < cfg.p_value
    return _check("prediction_shift", "fail" if failed else "pass", method=method,
                  on="score" if use_score else "value", value=round(value, 6), p_value=float(f"{p:.3g}"),
                  threshold=cfg.max_prediction_shift)


def _same(x: Any, y: Any) -> bool:
    nx, ny = _number(x), _number(y)
    if nx is not None and ny is not None:
        return abs(nx - ny) <= 1e-9
    return str(x) == str(y)


def agreement(base: list[Call], cand: list[Call]) -> tuple[float | None, int, list[str]]:
    """(share of paired predictions with equal values, pairs, trace ids of disagreements)."""
    primary = {c.prediction_id: c for c in base if not c.error}
    pairs = [(primary[c.prediction_id], c) for c in cand if not c.error and c.prediction_id in primary]
    if not pairs:
        return None, 0, []
    same = [_same(p.value, s.value) for p, s in pairs]
    bad = [s.trace_id.hex() for (p, s), ok in zip(pairs, same, strict=True) if not ok]
    return sum(same) / len(pairs), len(pairs), bad


def _task(preds: list[Any], labels: list[Any]) -> str:
    texts = {str(v).lower() for v in preds + labels}
    if texts <= {"0", "1", "0.0", "1.0", "true", "false"}:
        return "binary"
    if all(_number(v) is not None for v in preds + labels) and len(texts) > 20:
        return "regression"
    return "multiclass"


def _metrics(calls: list[Call], labels: dict[str, Any], task: str) -> dict[str, float]:
    rows = [(c, labels[c.prediction_id]) for c in calls if not c.error and c.prediction_id in labels]
    preds, truth = [c.value for c, _ in rows], [y for _, y in rows]
    if task == "binary":
        pos = lambda v: str(v).lower() in ("1", "1.0", "true")  # noqa: E731
        y_true = np.array([pos(v) for v in truth], np.int8)
        y_pred = np.array([pos(v) for v in preds], np.int8)
        scores = [c.score for c, _ in rows]
        score = np.asarray(scores, float) if all(s is not None for s in scores) else None
        return binary_metrics(y_true, y_pred, score)
    if task == "multiclass":
        return multiclass_metrics(np.array([str(v) for v in truth]), np.array([str(v) for v in preds]))
    return regression_metrics(np.asarray(truth, float), np.asarray(preds, float))


def _performance(base: list[Call], cand: list[Call], labels: dict[str, Any], cfg: CanaryConfig,
                 shadow: bool) -> dict[str, Any]:
    nb = sum(1 for c in base if c.prediction_id in labels and not c.error)
    nc = sum(1 for c in cand if c.prediction_id in labels and not c.error)
    if min(nb, nc) < cfg.min_labels:
        return _check("performance", "skipped", labels={"baseline": nb, "candidate": nc},
                      detail=f"needs {cfg.min_labels} labelled predictions per version")
    preds = [c.value for c in base + cand if not c.error]
    task = _task(preds, [labels[c.prediction_id] for c in base + cand if c.prediction_id in labels])
    metric = cfg.metric if cfg.metric != "auto" else ("rmse" if task == "regression" else "accuracy")
    mb, mc = _metrics(base, labels, task), _metrics(cand, labels, task)
    if metric not in mb or metric not in mc:
        return _check("performance", "skipped", metric=metric, detail=f"{metric} is not defined for {task}")
    drop = (mb[metric] - mc[metric]) if metric in HIGHER_IS_BETTER else (mc[metric] - mb[metric])
    return _check("performance", "fail" if drop > cfg.max_performance_drop else "pass", metric=metric,
                  baseline=round(mb[metric], 6), candidate=round(mc[metric], 6), drop=round(drop, 6),
                  threshold=cfg.max_performance_drop, labels={"baseline": nb, "candidate": nc},
                  note="the shadow is scored on the primary's labels" if shadow else None)


def _latency(base: list[Call], cand: list[Call], cfg: CanaryConfig) -> dict[str, Any]:
    a, b = [c.seconds for c in base if not c.error], [c.seconds for c in cand if not c.error]
    if not a or not b:
        return _check("latency", "skipped", detail="no successful calls")
    pa, pb = float(np.percentile(a, 95)), float(np.percentile(b, 95))
    ratio = pb / pa if pa > 0 else math.inf
    return _check("latency", "fail" if ratio > cfg.max_latency_ratio else "pass", baseline_p95_s=round(pa, 6),
                  candidate_p95_s=round(pb, 6), ratio=round(ratio, 4), threshold=cfg.max_latency_ratio)


def _errors(base: list[Call], cand: list[Call], cfg: CanaryConfig) -> dict[str, Any]:
    ea, eb = sum(c.error for c in base), sum(c.error for c in cand)
    ra, rb = ea / len(base), eb / len(cand)
    p = float(fisher_exact([[eb, len(cand) - eb], [ea, len(base) - ea]], alternative="greater")[1])
    failed = rb - ra > cfg.max_error_increase and p < cfg.p_value
    return _check("error_rate", "fail" if failed else "pass", baseline=round(ra, 6), candidate=round(rb, 6),
                  increase=round(rb - ra, 6), p_value=float(f"{p:.3g}"), threshold=cfg.max_error_increase)


def compare(model: str, baseline: str, candidate: str, base: list[Call], cand: list[Call],
            labels: dict[str, Any], cfg: CanaryConfig) -> dict[str, Any]:
    """The JSON answer of `GET /v1/canary` for these calls (each list oldest first)."""
    shadow = bool(cand) and sum(c.role == "shadow" for c in cand) * 2 > len(cand)
    out: dict[str, Any] = {"model": model, "baseline": baseline, "candidate": candidate,
                           "mode": "shadow" if shadow else "canary",
                           "samples": {"baseline": len(base), "candidate": len(cand)},
                           "min_samples": cfg.min_samples, "agreement": None}
    checks: list[dict[str, Any]] = []
    evidence: list[str] = []
    if base and cand:
        checks.append(_prediction_shift(base, cand, cfg))
        if shadow:
            share, pairs, bad = agreement(base, cand)
            out["agreement"] = None if share is None else round(share, 6)
            if share is None:
                checks.append(_check("agreement", "skipped", detail="no prediction served by both"))
            else:
                ok = share >= cfg.min_agreement
                checks.append(_check("agreement", "pass" if ok else "fail", value=round(share, 6),
                                     pairs=pairs, threshold=cfg.min_agreement))
                evidence += bad[:5]
        checks.append(_performance(base, cand, labels, cfg, shadow))
        checks.append(_latency(base, cand, cfg))
        checks.append(_errors(base, cand, cfg))
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    if min(len(base), len(cand)) < cfg.min_samples:
        verdict = "inconclusive"
        reason = f"fewer than min_samples={cfg.min_samples} calls per version"
    elif failed:
        verdict, reason = "rollback", "failed: " + ", ".join(failed)
    else:
        verdict, reason = "promote", "every check passed"
    if "error_rate" in failed:
        evidence += [c.trace_id.hex() for c in cand if c.error][:5]
    if "latency" in failed:
        evidence += [c.trace_id.hex() for c in sorted(cand, key=lambda c: -c.seconds)[:5]]
    if "performance" in failed or "prediction_shift" in failed:
        evidence += [c.trace_id.hex() for c in cand if c.prediction_id in labels
                     and not _same(c.value, labels[c.prediction_id])][:5]
    out.update(verdict=verdict, reason=reason, failed=failed, checks=checks,
               trace_ids=list(dict.fromkeys(evidence)))
    return out
