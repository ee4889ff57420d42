"""plotly.js from the installed `plotly` wheel (`plotly/package_data/plotly.min.js`): never a CDN, never a
copy in this repository, so pages and reports work with no network at all."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

__all__ = ["INSTALL_HINT", "ReportDependencyError", "missing", "plotly_js", "plotly_js_path"]

INSTALL_HINT = "pip install 'otelml[ui]'"


class ReportDependencyError(RuntimeError):
    """jinja2 or plotly is not installed; the message says what to install."""


def missing() -> list[str]:
    """Distributions of the `ui` extra that cannot be imported."""
    out = []
    for module in ("jinja2", "plotly"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out


def plotly_js_path() -> Path:
    """The minified plotly.js bundled in the installed `plotly` package (found without importing it)."""
    spec = importlib.util.find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise ReportDependencyError(f"plotly.js not found (the `plotly` package is missing); {INSTALL_HINT}")


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """The text of plotly.min.js (read once per process)."""
    return plotly_js_path().read_text(encoding="utf-8")
