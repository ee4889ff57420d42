"""Rendering with jinja2 (autoescape on for every template: span attributes, feature names and model names
come from the traffic, so they are attacker-controlled and always escaped)."""

from __future__ import annotations

import functools
from typing import Any

from otelml.report._assets import INSTALL_HINT, ReportDependencyError, plotly_js

__all__ = ["render"]


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise ReportDependencyError(f"jinja2 is not installed; {INSTALL_HINT}") from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("otelml.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package data: no stat of every template on every page
    )
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def render(template: str, *, assets: str | None, **context: Any) -> str:
    """A page: `assets` is the URL prefix the page loads plotly.js from (the sidecar serves it), or None to
    inline plotly.js (a self-contained report that works offline)."""
    inline = None
    if assets is None:  # "</script" inside the inlined text would end the element early
        inline = plotly_js().replace("</script", "<\\/script")
    return str(_environment().get_template(template).render(assets=assets, plotly_inline=inline, **context))
