"""Human-readable table of a validation `Result` (the default output of `otelml validate`)."""

from __future__ import annotations

import json
from typing import Any

from otelml.quality._model import ExpectationResult, Result, _jsonable

__all__ = ["format_table"]

_MAX_CELL = 60


def format_table(result: Result, *, examples: int = 3) -> str:
    rows = [("", "column", "expectation", "observed", "unexpected")]
    for r in result.results:
        rows.append((
            "PASS" if r.success else "FAIL",
            r.expectation.column or "(table)",
            _describe(r),
            _observed(r),
            f"{r.unexpected_count} ({r.unexpected_percent:.2f}%)" if r.unexpected_count else "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = [_details(r, examples) for r in result.failed]
    stats = result.statistics
    verdict = "PASSED" if result.success else "FAILED"
    head = f"{result.data}: " if result.data else ""
    summary = (f"{head}{verdict}: {stats['successful']} of {stats['evaluated']} expectations passed "
               f"on {result.row_count} rows")
    return "\n".join([*lines, "", *[d for d in details if d], summary]) + "\n"


def _describe(r: ExpectationResult) -> str:
    exp = r.expectation
    p = exp.params
    if exp.kind in ("between", "mean", "std", "median", "minimum", "maximum", "row_count"):
        lo = "(" if p.get("strict_min") else "["
        hi = ")" if p.get("strict_max") else "]"
        text = f"{exp.kind} {lo}{_num(p.get('min'))}, {_num(p.get('max'))}{hi}"
    elif exp.kind in ("in_set", "not_in_set"):
        text = f"{exp.kind} {_cell(p['values'], 30)}"
    elif exp.kind == "regex":
        text = f"regex '{p['pattern']}'"
    elif exp.kind == "type":
        text = f"type {p['type']}"
    elif exp.kind == "of_type":
        text = f"of_type {', '.join(p['types'])}"
    elif exp.kind == "drift":
        text = f"drift {p.get('method') or 'default'} <= {_num(p.get('threshold'), 'default')}"
    elif exp.kind == "freshness":
        text = f"freshness <= {p['max_age']:g}s"
    elif exp.kind == "quantiles":
        text = "quantiles " + ", ".join(f"q{q:g} in [{_num(lo)}, {_num(hi)}]" for q, lo, hi in p["quantiles"])
    elif exp.kind == "unsupported":
        text = f"unsupported {p['ge_type']}"
    else:
        text = exp.kind
    if p.get("mostly", 1.0) < 1.0:
        text += f" mostly {p['mostly']:g}"
    return _cell(text, _MAX_CELL)


def _observed(r: ExpectationResult) -> str:
    obs = r.observed_value
    if r.expectation.kind == "drift" and isinstance(obs, dict):
        return f"{obs['value']:.4g} ({obs['method']}, n={obs['n']})"
    return _cell(obs)


def _details(r: ExpectationResult, examples: int) -> str:
    parts = []
    if r.message:
        parts.append(r.message)
    if r.examples:
        shown = ", ".join(f"row {e.row}: {e.value!r}" for e in r.examples[:examples])
        parts.append(f"examples: {shown}")
    if not parts:
        return ""
    where = f" ({r.expectation.source})" if r.expectation.source else ""
    return f"FAIL {r.expectation.label}{where}: " + "; ".join(parts)


def _num(x: Any, none: str = "…") -> str:
    if x is None:
        return none
    return f"{x:g}" if isinstance(x, float) else str(x)


def _cell(value: Any, limit: int = _MAX_CELL) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(_rounded(_jsonable(value)), separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits, for the table only (the JSON report keeps full precision)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
