"""`/metrics`: every metric of the sidecar's MeterProvider in the Prometheus formats, by prometheus_client.

Whatever a component records through the MeterProvider it was handed (drift, quality, performance, SLO,
the sidecar's own counters) is collected on each scrape by a `PullMetricReader` and rendered by
prometheus_client, which also negotiates the format: Prometheus text 0.0.4 by default, OpenMetrics
1.0 when the scraper sends `Accept: application/openmetrics-text` — then counters and histogram buckets
carry the newest exemplar of their series as `{trace_id="…",span_id="…"}` (OpenMetrics allows exemplars
nowhere else, so gauges carry none).

Names follow the OpenTelemetry → Prometheus rules as the OTel Python Prometheus exporter applies them:
characters outside `[a-zA-Z0-9:]` become `_` (`ml.feature.drift` → `ml_feature_drift`), the unit is
appended when the name lacks it (`s` → `_seconds`, `By` → `_bytes`; `1` and `{annotations}` add nothing),
monotonic sums are counters (`_total`), attribute keys become labels with `_` for every run of other
characters (`ml.feature.name` → `ml_feature_name`). The resource becomes `target_info`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import InfoMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from otelml_collector.telemetry import PullMetricReader

__all__ = ["PrometheusExposition", "label_name", "metric_name"]

_log = logging.getLogger("otelml_collector.prometheus")

_NAME_INVALID = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"\{.*\}")
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes",
    "GiBy": "gibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "1": "", "%": "percent",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def metric_name(name: str) -> str:
    """The Prometheus name of an OTel instrument name (without unit or `_total`)."""
    if name[:1].isdigit():
        name = "_" + name[1:]
    return _NAME_INVALID.sub("_", name)


@functools.lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    """The Prometheus label of an OTel attribute key: `ml.feature.name` -> `ml_feature_name`."""
    if key[:1].isdigit():
        key = "_" + key[1:]
    return _LABEL_INVALID.sub("_", key)


@functools.lru_cache(maxsize=256)
def unit_suffix(unit: str) -> str:
    unit = _ANNOTATION.sub("", unit or "")
    if unit in _UNITS:
        return _UNITS[unit]
    top, per, bottom = unit.partition("/")
    if per and bottom:
        return f"{_UNITS.get(top, top)}_per_{bottom}".strip("_")
    return _NAME_INVALID.sub("_", unit).strip("_")


def _labels(attributes: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in attributes.items():
        name = label_name(key)
        text = value if isinstance(value, str) else _text(value)
        out[name] = f"{out[name]};{text}" if name in out else text  # keys equal once sanitised: both values
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def _value(point: Any) -> Any:
    value = getattr(point, "value", None)
    return value if value is not None else (point.count, point.sum, tuple(point.bucket_counts))


def _exemplar(ex: Any) -> Exemplar:
    labels = {"trace_id": format(ex.trace_id, "032x"), "span_id": format(ex.span_id, "016x")}
    return Exemplar(labels, float(ex.value), ex.time_unix_nano / 1e9)


class _Families:
    """A prometheus_client collector of fixed families (what its encoders take)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class PrometheusExposition:
    """Renders what a `PullMetricReader` collects; `render(accept)` answers one scrape.

    Each metric's text is rendered by prometheus_client's encoder for the negotiated format and kept
    with the metric's points: a metric whose points did not change since the last scrape (drift and
    performance gauges change once per window) is served from that text instead of being rendered
    again. Counters and histograms with exemplars are always rendered."""

    _EOF = b"# EOF\n"

    def __init__(self, reader: PullMetricReader) -> None:
        self._reader = reader
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[Any, bytes]] = {}  # (format, metric name) -> (points, text)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition in the format `accept` asks for, and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        data, exemplars = self._reader.read()
        if data is None:
            return encoder(_Families([])), content_type
        with self._lock:
            return self._render(encoder, content_type, data, exemplars), content_type

    def _render(self, encoder: Any, content_type: str, data: MetricsData, exemplars: dict[Any, Any]) -> bytes:
        fmt = content_type.split(";", 1)[0]
        openmetrics = fmt == "application/openmetrics-text"
        with_exemplars = {name for name, _, _ in exemplars}
        by_name: dict[str, list[Any]] = {}
        resource: dict[str, str] = {}
        for rm in data.resource_metrics:
            resource.update(_labels(rm.resource.attributes))
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    by_name.setdefault(metric_name(metric.name), []).append(metric)
        parts: list[bytes] = []
        cache: dict[tuple[str, str], tuple[Any, bytes]] = {}
        for name, metrics in by_name.items():
            points = None
            if not any(m.name in with_exemplars for m in metrics):
                points = tuple(
                    (m.name, p.attributes, _value(p))
                    for m in metrics for p in m.data.data_points
                )  # fmt: skip
                cached = self._cache.get((fmt, name))
                if cached is not None and cached[0] == points:
                    cache[(fmt, name)] = cached
                    parts.append(cached[1])
                    continue
            out: dict[str, Metric] = {}
            for metric in metrics:
                self._add(out, metric, exemplars)
            text = encoder(_Families(list(out.values())))
            if openmetrics and text.endswith(self._EOF):
                text = text[: -len(self._EOF)]
            if points is not None:
                cache[(fmt, name)] = (points, text)
            parts.append(text)
        # keep the other format's entries: Prometheus and a curl may alternate
        self._cache = {**{k: v for k, v in self._cache.items() if k[0] != fmt}, **cache}
        if resource:
            info = InfoMetricFamily("target", "Target metadata")
            info.add_metric([], resource)
            parts.append(encoder(_Families([info])))
        elif openmetrics:
            parts.append(self._EOF)
        return b"".join(parts)

    def _family(self, out: dict[str, Metric], metric: Any, typ: str) -> Metric | None:
        name = metric_name(metric.name)
        family = Metric(name, metric.description or metric.name, typ, unit_suffix(metric.unit))
        existing = out.get(family.name)
        if existing is None:
            out[family.name] = family
            return family
        if existing.type != typ:
            self._warn(family.name, "metric %s is both a %s and a %s; the %s is not exposed",
                       family.name, existing.type, typ, typ)  # fmt: skip
            return None
        return existing

    def _add(self, out: dict[str, Metric], metric: Any, exemplars: dict[Any, Any]) -> None:
        data = metric.data
        if isinstance(data, Sum):
            family = self._family(out, metric, "counter" if data.is_monotonic else "gauge")
            if family is None:
                return
            sample = family.name + "_total" if data.is_monotonic else family.name
            for point in data.data_points:
                ex = exemplars.get((metric.name, frozenset(point.attributes.items()), 0))
                family.add_sample(
                    sample, _labels(point.attributes), point.value,
                    exemplar=_exemplar(ex) if ex is not None and data.is_monotonic else None,
                )  # fmt: skip
        elif isinstance(data, Gauge):
            family = self._family(out, metric, "gauge")
            if family is None:
                return
            for point in data.data_points:
                family.add_sample(family.name, _labels(point.attributes), point.value)
        elif isinstance(data, Histogram):
            family = self._family(out, metric, "histogram")
            if family is None:
                return
            for point in data.data_points:
                self._histogram(family, metric.name, point, exemplars)
        else:
            self._warn(metric.name, "metric %s: %s points are not exposed on /metrics",
                       metric.name, type(data).__name__)  # fmt: skip

    @staticmethod
    def _histogram(family: Metric, instrument: str, point: Any, exemplars: dict[Any, Any]) -> None:
        labels = _labels(point.attributes)
        attrs = frozenset(point.attributes.items())
        cumulative = 0
        bounds = [*point.explicit_bounds, math.inf]
        for i, (bound, count) in enumerate(zip(bounds, point.bucket_counts, strict=False)):
            cumulative += count
            ex = exemplars.get((instrument, attrs, i))
            family.add_sample(
                family.name + "_bucket", {**labels, "le": floatToGoString(bound)}, cumulative,
                exemplar=_exemplar(ex) if ex is not None else None,
            )  # fmt: skip
        family.add_sample(family.name + "_count", labels, point.count)
        family.add_sample(family.name + "_sum", labels, point.sum)

    def _warn(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning(message + " [logged once]", *args)
