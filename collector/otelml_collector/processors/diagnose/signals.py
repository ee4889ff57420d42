"""Span signals of one model version against its own warm-up: the system layer (inference latency and
errors, the services' server-span errors in the same traces) and the span-level data signals (stale
feature lookups, missing features).

Every signal is a rate of "bad" calls: slow (slower than the reference p95), failed, in a trace
whose server span failed, with a stale lookup, missing a feature. A signal degrades when its rate
exceeds the reference rate by more than `max_increase` and a one-sided binomial test
(`scipy.stats.binomtest`) rejects the reference rate at `p_value`; latency also needs its p95 above
`latency_factor` times the reference p95 and `latency_min_increase` above it. Its first sighting is
the first call of the first run of three consecutive bad calls (or the first bad call), so one unlucky
call does not date an incident.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from otelml_collector.findings import Finding, Layer
from otelml_collector.predstore.calls import Call
from otelml_collector.processors.diagnose.config import DiagnoseConfig

__all__ = ["Reference", "learn_reference", "span_findings"]

_FEATURE = "ml.feature."
_FRESHNESS = "ml.feature_view.freshness"
_VIEW = "ml.feature_view.name"


@dataclass
class Reference:
    n: int
    latency_p95_s: float
    error_rate: float
    server_error_rate: float
    stale_rate: float
    missing_rate: float
    features: list[str]
    source: str = "warmup"
    until_ns: int = 0  # end of the last warm-up call: later calls are compared with the reference

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Reference:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _features(call: Call) -> set[str]:
    return {k[len(_FEATURE):] for k, v in call.attributes.items() if k.startswith(_FEATURE) and v is not None}


def _stale(call: Call, config: DiagnoseConfig) -> bool:
    for span in call.others:
        age = span.attributes.get(_FRESHNESS)
        fresh_enough = not isinstance(age, int | float) or isinstance(age, bool)
        if not fresh_enough and age > config.sla(str(span.attributes.get(_VIEW, ""))):
            return True
    return False


def _server_error(call: Call) -> bool:
    return any(s.server and s.error for s in call.others)


def learn_reference(calls: list[Call], config: DiagnoseConfig, given: dict[str, Any] | None) -> Reference:
    """The reference of a version from its first calls (`given` keys, from a baseline file, win)."""
    n = len(calls)
    ok = [c.seconds for c in calls if not c.error]
    counts: dict[str, int] = {}
    for c in calls:
        for f in _features(c):
            counts[f] = counts.get(f, 0) + 1
    features = sorted(f for f, k in counts.items() if k >= 0.99 * n)
    ref = Reference(
        n=n,
        latency_p95_s=float(np.percentile(ok, 95)) if ok else 0.0,
        error_rate=sum(c.error for c in calls) / n if n else 0.0,
        server_error_rate=sum(_server_error(c) for c in calls) / n if n else 0.0,
        stale_rate=sum(_stale(c, config) for c in calls) / n if n else 0.0,
        missing_rate=0.0,
        features=features,
    )
    ref.missing_rate = sum(bool(set(features) - _features(c)) for c in calls) / n if n else 0.0
    if given:
        for key, value in given.items():
            if key in ref.__dataclass_fields__ and key not in ("n", "source"):
                setattr(ref, key, list(value) if key == "features" else float(value))
        ref.source = "baseline file"
    return ref


def _first_run(bad: list[bool], calls: list[Call]) -> int:
    for i in range(len(bad) - 2):
        if bad[i] and bad[i + 1] and bad[i + 2]:
            return calls[i].end_ns
    return next((c.end_ns for c, b in zip(calls, bad, strict=True) if b), 0)


def _rate_finding(
    layer: Layer, signal: str, bad: list[bool], calls: list[Call], reference: float,
    config: DiagnoseConfig, detail: dict[str, Any],
) -> Finding | None:
    n, k = len(calls), sum(bad)
    if n < config.min_samples or k == 0:
        return None
    rate = k / n
    p0 = min(max(reference, 0.5 / max(n, 1)), 0.999)
    if rate - reference <= config.max_increase:
        return None
    p = binomtest(k, n, p0, alternative="greater").pvalue
    if p >= config.p_value:
        return None
    traces = tuple(dict.fromkeys(c.trace_id.hex() for c, b in zip(calls, bad, strict=True) if b))[:5]
    figures = {"rate": round(rate, 4), "reference_rate": round(reference, 4), "n": n, "bad": k,
               "p_value": float(f"{p:.3g}")}
    return Finding(layer, signal, {**detail, **figures}, traces, _first_run(bad, calls))


def span_findings(version: str, calls: list[Call], ref: Reference, config: DiagnoseConfig) -> list[Finding]:
    """Degraded span signals of one version's calls (oldest first) against its reference."""
    base = {"version": version}
    out: list[Finding | None] = []
    ok = [c for c in calls if not c.error]
    if ok and ref.latency_p95_s > 0:
        p95 = float(np.percentile([c.seconds for c in ok], 95))
        ref_p95 = ref.latency_p95_s
        if p95 > max(config.latency_factor * ref_p95, ref_p95 + config.latency_min_increase):
            slow = [c.seconds > ref.latency_p95_s for c in ok]
            detail = {**base, "p95_s": round(p95, 6), "reference_p95_s": round(ref.latency_p95_s, 6)}
            found = _rate_finding("system", "inference_latency", slow, ok, 0.05, config, detail)
            if found is not None:  # the slowest calls are the best evidence
                order = sorted(range(len(ok)), key=lambda i: -ok[i].seconds)[:5]
                found = Finding(found.layer, found.signal, found.detail,
                                tuple(ok[i].trace_id.hex() for i in order), found.first_seen_unix_nano)
            out.append(found)
    out.append(_rate_finding("system", "inference_errors", [c.error for c in calls], calls,
                             ref.error_rate, config, dict(base)))
    out.append(_rate_finding("system", "server_errors", [_server_error(c) for c in calls], calls,
                             ref.server_error_rate, config, dict(base)))
    stale = [_stale(c, config) for c in calls]
    if any(stale):
        ages = [s.attributes.get(_FRESHNESS) for c in calls for s in c.others
                if isinstance(s.attributes.get(_FRESHNESS), int | float)]
        detail = {**base, "max_freshness_s": max(ages) if ages else None, "sla_s": config.freshness_sla}
        out.append(_rate_finding("data", "feature_freshness", stale, calls, ref.stale_rate, config, detail))
    expected = set(ref.features)
    missing = [bool(expected - _features(c)) for c in calls]
    if any(missing):
        absent: dict[str, int] = {}
        for c in calls:
            for f in expected - _features(c):
                absent[f] = absent.get(f, 0) + 1
        detail = {**base, "features": dict(sorted(absent.items(), key=lambda kv: -kv[1])[:10])}
        out.append(
            _rate_finding("data", "missing_features", missing, calls, ref.missing_rate, config, detail)
        )
    return [f for f in out if f is not None and not math.isnan(f.first_seen_unix_nano)]
