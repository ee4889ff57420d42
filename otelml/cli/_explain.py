"""`otelml drift --explain FEATURE`: the stored predictions behind a feature's last drift score
(`GET /v1/drift/predictions`), most contributing bin first; each trace id resolves with `otelml trace`."""

from __future__ import annotations

import json
import sys
from typing import Any

from otelml.cli._sidecar import SidecarEndpoint, SidecarError, get_json

__all__ = ["explain"]


def _range(bin_range: Any) -> str:
    if isinstance(bin_range, list):
        lo, hi = bin_range
        return f"[{'-inf' if lo is None else f'{lo:.4g}'}, {'+inf' if hi is None else f'{hi:.4g}'})"
    return str(bin_range)


def explain(
    url: str | SidecarEndpoint, model: str | None, feature: str, as_json: bool, timeout: float
) -> int:
    if not model:
        print("otelml drift: --explain needs --model", file=sys.stderr)
        return 2
    try:
        status, doc = get_json(
            url, "/v1/drift/predictions", {"model": model, "feature": feature}, timeout=timeout
        )
    except SidecarError as exc:
        print(f"otelml drift: {exc}", file=sys.stderr)
        return 2
    if status == 404:
        print(f"otelml drift: {doc.get('error')}", file=sys.stderr)
        return 1
    if status != 200:
        print(
            f"otelml drift: {url}: HTTP {status}: {doc.get('error') if isinstance(doc, dict) else doc}",
            file=sys.stderr,
        )
        return 2
    if as_json:
        print(json.dumps(doc, indent=2))
        return 0
    w = doc["window"]
    print(
        f"{doc['model']} {doc['version'] or '-'} feature {doc['feature']}: "
        f"{doc['method']} = {doc['score']:.4g} ({'drifted' if doc['drifted'] else 'not drifted'}), "
        f"window {w['start']} .. {w['end']}, {w['count']} values"
    )
    rows = [["PREDICTION ID", "TRACE ID", "VALUE", "BIN", "CONTRIBUTION"]]
    for p in doc["predictions"]:
        contribution = "-" if p["contribution"] is None else f"{p['contribution']:.4g}"
        rows.append(
            [p["prediction_id"], p["trace_id"], str(p["value"]), _range(p["bin_range"]), contribution]
        )
    if len(rows) == 1:
        print("no stored prediction of that window (is the predictions processor in the pipeline?)")
        return 1
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\n".join("  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip() for r in rows))
    return 0
