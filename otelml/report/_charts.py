"""Plotly figures (plain `{"data", "layout"}` dicts, drawn in the page by plotly.js) for the web UI and the
HTML reports: a feature's drift score over windows, its reference-vs-current histogram, performance over
windows, and a prediction's spans as a waterfall. Values come from the sidecar's JSON documents."""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "Bounded",
    "drift_history_figure",
    "figure_json",
    "histogram_figure",
    "performance_figure",
    "plain",
    "waterfall_figure",
]

REFERENCE, CURRENT, ALERT = "#7f8c8d", "#2471a3", "#c0392b"
_LAYOUT = {
    "margin": {"l": 55, "r": 15, "t": 35, "b": 45},
    "height": 280,
    "legend": {"orientation": "h", "y": -0.22},
    "font": {"size": 12},
    "paper_bgcolor": "white",
    "plot_bgcolor": "#fbfbfb",
}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title, "font": {"size": 13}}, **extra}


def drift_history_figure(feature: str, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Score of each alerting method per closed window (`points`: end, method, score, threshold, drifted),
    the threshold dashed, drifted windows in red."""
    data: list[dict[str, Any]] = []
    for method in sorted({p["method"] for p in points}):
        mine = [p for p in points if p["method"] == method]
        ends = [p["end"] for p in mine]
        colors = [ALERT if p["drifted"] else CURRENT for p in mine]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{method} score",
                "x": ends,
                "y": [p["score"] for p in mine],
                "marker": {"size": 9, "color": colors if ALERT in colors else CURRENT},
                "line": {"color": CURRENT},
            }
        )
        thresholds = [p["threshold"] for p in mine]
        if len(set(thresholds)) == 1 and len(ends) > 2:  # a constant threshold: the line's two ends
            ends, thresholds = [ends[0], ends[-1]], thresholds[:2]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{method} threshold",
                "x": ends,
                "y": thresholds,
                "line": {"color": ALERT, "dash": "dash", "width": 1},
            }
        )
    return {
        "data": data,
        "layout": _layout(f"{plain(feature)}: drift score per window", yaxis={"rangemode": "tozero"}),
    }


def histogram_figure(
    feature: str,
    reference: Mapping[str, Any],
    current: Sequence[int] | None,
    current_label: str = "current window",
) -> dict[str, Any]:
    """Reference (baseline) vs current window over the baseline's bins, as shares of each side.

    `reference` is a profile as a baseline file holds it (`kind`, `edges` or `categories`, `counts`);
    `current` the counts of the window (or data) over the same bins.

    Numeric: quantile bins drawn at their true positions and widths as densities (share / width), so the
    bars read as a histogram; the two open outer bins (values below the baseline minimum / above its
    maximum) are drawn just outside the range, one twentieth of it wide. Categorical: one bar per category.
    """
    ref = list(reference.get("counts") or [])
    current = list(current) if current is not None and len(current) == len(ref) else None
    if reference.get("kind") == "numeric":
        bins = _numeric_bins(tuple(float(e) for e in reference["edges"]), tuple(ref))
        data = [bins.bar("reference (baseline)", bins.reference, REFERENCE)]
        if current is not None:
            data.append(bins.bar(current_label, bins.densities(current), CURRENT))
        layout = _layout(
            f"{plain(feature)}: reference vs current", barmode="overlay", yaxis={"title": "density"}
        )
    else:
        labels = [plain(c) for c in [*(reference.get("categories") or []), "<other>"]]
        sides = [("reference (baseline)", ref, REFERENCE)]
        if current is not None:
            sides.append((current_label, current, CURRENT))
        data = []
        for name, counts, color in sides:
            total = sum(counts) or 1
            data.append(
                {
                    "type": "bar",
                    "name": name,
                    "x": labels,
                    "y": [c / total for c in counts],
                    "marker": {"color": color},
                }
            )
        layout = _layout(
            f"{plain(feature)}: reference vs current", barmode="group", yaxis={"tickformat": ".0%"}
        )
    return {"data": data, "layout": layout}


class _Bins:
    """A numeric baseline's bins as drawn: positions, widths, hover texts and the reference densities,
    computed once per baseline (every page read and every window draws the same ones)."""

    def __init__(self, edges: tuple[float, ...], ref: tuple[int, ...]) -> None:
        span = (edges[-1] - edges[0]) or 1.0
        outer = span / 20
        lefts = [edges[0] - outer, *edges[:-1], edges[-1]]
        widths = [outer, *(b - a for a, b in itertools.pairwise(edges)), outer]
        self.keep = [i for i, w in enumerate(widths) if w > 0]
        self.widths = widths
        last = len(widths) - 1
        self.texts = [
            "below the baseline minimum" if i == 0 else "above the baseline maximum" if i == last
            else f"[{lefts[i]:.4g}, {lefts[i] + widths[i]:.4g})"
            for i in self.keep
        ]  # fmt: skip
        self.xs = _rounded([lefts[i] + widths[i] / 2 for i in self.keep])
        self.ws = _rounded([widths[i] for i in self.keep])
        self.reference = self.densities(ref)

    def densities(self, counts: Sequence[int]) -> list[float]:
        total = sum(counts) or 1
        return _rounded([counts[i] / total / self.widths[i] for i in self.keep])

    def bar(self, name: str, y: list[float], color: str) -> dict[str, Any]:
        return {
            "type": "bar",
            "name": name,
            "x": self.xs,
            "y": y,
            "width": self.ws,
            "hovertext": self.texts,
            "hoverinfo": "text+name",
            "marker": {"color": color, "opacity": 0.55, "line": {"width": 0}},
        }


@functools.lru_cache(maxsize=1024)
def _numeric_bins(edges: tuple[float, ...], ref: tuple[int, ...]) -> _Bins:
    return _Bins(edges, ref)


def performance_figure(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Realized (from labels) and estimated (CBPE) metrics per window, one line each."""
    data: list[dict[str, Any]] = []
    for kind, dash in (("realized", "solid"), ("estimated", "dot")):
        metrics = sorted({m for w in windows for m in (w.get(kind) or {})})
        for metric in metrics:
            points = [w for w in windows if _finite((w.get(kind) or {}).get(metric))]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{metric} ({kind})",
                    "x": [w.get("end") or w.get("start") for w in points],
                    "y": [w[kind][metric] for w in points],
                    "line": {"dash": dash},
                }
            )
    return {"data": data, "layout": _layout("performance per window: realized vs estimated")}


def waterfall_figure(spans: Sequence[Mapping[str, Any]], highlight: set[str] | None = None) -> dict[str, Any]:
    """Each span a horizontal bar from its start to its end (ms after the first span), one row per span
    (`service: name`), coloured by service; spans in `highlight` (span ids) outlined in red."""
    if not spans:
        return {"data": [], "layout": _layout("spans")}
    t0 = min(int(s["start_time_unix_nano"]) for s in spans)
    services = sorted({str(s.get("service") or "?") for s in spans})
    palette = ["#2471a3", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]
    highlight = highlight or set()
    rows = [_row(s, i) for i, s in enumerate(spans)]
    data = []
    for k, service in enumerate(services):
        mine = [i for i, s in enumerate(spans) if str(s.get("service") or "?") == service]
        starts = [(int(spans[i]["start_time_unix_nano"]) - t0) / 1e6 for i in mine]
        lengths = [
            max((int(spans[i]["end_time_unix_nano"]) - int(spans[i]["start_time_unix_nano"])) / 1e6, 0.01)
            for i in mine
        ]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": plain(service),
                "y": [rows[i] for i in mine],
                "base": starts,
                "x": lengths,
                "marker": {
                    "color": palette[k % len(palette)],
                    "line": {
                        "color": [
                            ALERT if spans[i].get("span_id") in highlight else "rgba(0,0,0,0)" for i in mine
                        ],
                        "width": 3,
                    },
                },
                "hovertext": [
                    f"{rows[i]}: starts at {a:.2f} ms, lasts {b:.2f} ms"
                    for i, a, b in zip(mine, starts, lengths, strict=True)
                ],
                "hoverinfo": "text",
            }
        )
    layout = _layout(
        "spans of the prediction across services (ms)",
        barmode="overlay",
        height=max(200, 34 * len(spans) + 90),
        yaxis={"categoryorder": "array", "categoryarray": rows[::-1], "automargin": True},
        xaxis={"title": "ms since the first span"},
    )
    return {"data": data, "layout": layout}


def _row(span: Mapping[str, Any], i: int) -> str:
    return plain(f"{i + 1}. {span.get('service') or '?'}: {span.get('name')}")


def plain(text: Any) -> str:
    """Text that plotly shows as is: its labels understand a few HTML tags, span data must not use them."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rounded(values: list[float], digits: int = 6) -> list[float]:
    """Values rounded to `digits` significant digits of the largest: the page carries what the eye sees."""
    top = max((abs(v) for v in values), default=0.0)
    if not top or not math.isfinite(top):
        return values
    places = digits - 1 - math.floor(math.log10(top))
    return [round(v, places) for v in values]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def figure_json(figure: Mapping[str, Any]) -> str:
    """A figure as the compact JSON a page's `data-figure` attribute carries: characters that could end
    the attribute or open markup escaped as jinja2's `tojson` does (the templates mark it safe)."""
    text = json.dumps(figure, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, escaped)
    return text


class Bounded:
    """A small thread-safe map that forgets its oldest entries beyond `size`."""

    def __init__(self, size: int) -> None:
        self._size, self._lock, self._items = size, threading.Lock(), dict[Any, Any]()

    def get(self, key: Any) -> Any:
        return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                del self._items[next(iter(self._items))]
