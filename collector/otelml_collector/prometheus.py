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

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import InfoMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from otelml_collector.series import Series, Stream
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

    A family's series are rendered by prometheus_client's encoder for the negotiated format in blocks of
    `BLOCK` series (the family's header once, then each block's sample lines: the encoder's output for
    the block after that same header). A block whose series all kept their stamp since the previous
    scrape (no new point, no new exemplar: drift and performance gauges change once per window) is
    served from its previous text; the rest is rendered again. Blocks follow the order series were
    created in, so the series of one model's window, created together, share a block or two."""

    _EOF = b"# EOF\n"
    BLOCK = 256

    def __init__(self, reader: PullMetricReader) -> None:
        self._reader = reader
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, int], tuple[tuple[int, ...], bytes]] = {}  # (format, stream, block)
        self._headers: dict[tuple[str, tuple[str, str, str, str]], bytes] = {}

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition in the format `accept` asks for, and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        resource, streams = self._reader.read()
        with self._lock:
            return self._render(encoder, content_type, resource, streams), content_type

    def _render(self, encoder: Any, content_type: str, resource: dict[str, Any], streams: list[Any]) -> bytes:
        fmt = content_type.split(";", 1)[0]
        openmetrics = fmt == "application/openmetrics-text"
        families: dict[str, tuple[tuple[str, str, str, str], list[tuple[Stream, list[Series]]]]] = {}
        for stream, series in streams:
            typ = "histogram" if stream.kind == "histogram" else "counter" if stream.monotonic else "gauge"
            doc = stream.description or stream.name
            spec = (metric_name(stream.name), doc, typ, unit_suffix(stream.unit))
            name = Metric(*spec).name
            family = families.setdefault(name, (spec, []))
            if family[0][2] != typ:
                self._warn(name, "metric %s is both a %s and a %s; the %s is not exposed",
                           name, family[0][2], typ, typ)  # fmt: skip
                continue
            family[1].append((stream, series))
        parts: list[bytes] = []
        cache: dict[tuple[str, int, int], tuple[tuple[int, ...], bytes]] = {}
        for spec, members in families.values():
            header = self._header(encoder, fmt, spec)
            blocks: list[bytes] = [header]
            for stream, series in members:
                for start in range(0, len(series), self.BLOCK):
                    block = series[start : start + self.BLOCK]
                    key, stamps = (fmt, stream.key, start), tuple(s.stamp for s in block)
                    hit = self._cache.get(key)
                    text = hit[1] if hit is not None and hit[0] == stamps else None
                    if text is None:
                        text = self._encode(encoder, spec, stream, block, openmetrics)
                        if not text.startswith(header):  # not the layout expected: the family in one piece
                            break
                        text = text[len(header) :]
                    cache[key] = (stamps, text)
                    blocks.append(text)
                else:
                    continue
                blocks = [self._encode(encoder, spec, None, members, openmetrics)]
                break
            parts += blocks
        # keep the other format's entries: Prometheus and a curl may alternate
        self._cache = {**{k: v for k, v in self._cache.items() if k[0] != fmt}, **cache}
        if resource:
            info = InfoMetricFamily("target", "Target metadata")
            info.add_metric([], _labels(resource))
            parts.append(encoder(_Families([info])))
        elif openmetrics:
            parts.append(self._EOF)
        return b"".join(parts)

    def _header(self, encoder: Any, fmt: str, spec: tuple[str, str, str, str]) -> bytes:
        """The encoder's text of the family without samples: its HELP, TYPE (and UNIT) lines."""
        key = (fmt, spec)
        header = self._headers.get(key)
        if header is None:
            header = encoder(_Families([Metric(*spec)]))
            if header.endswith(self._EOF):
                header = header[: -len(self._EOF)]
            self._headers[key] = header
        return header

    def _encode(self, encoder: Any, spec: tuple[str, str, str, str], stream: Stream | None, series: list[Any],
                openmetrics: bool) -> bytes:  # fmt: skip
        """The encoder's text of the family with `series` of `stream` (or of every (stream, series) pair)."""
        family = Metric(*spec)
        for member, items in [(stream, series)] if stream is not None else series:
            for s in items:
                _add(family, member, s)
        text: bytes = encoder(_Families([family]))
        return text[: -len(self._EOF)] if openmetrics and text.endswith(self._EOF) else text

    def _warn(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning(message + " [logged once]", *args)


def _add(family: Metric, stream: Stream, series: Series) -> None:
    """The samples of one series (OpenMetrics: exemplars on counters and histogram buckets only)."""
    point = series.point
    labels = _labels(point.attributes)
    if stream.kind != "histogram":
        if stream.monotonic:
            ex = series.exemplars.get(0)
            family.add_sample(family.name + "_total", labels, point.value,
                              exemplar=_exemplar(ex) if ex is not None else None)  # fmt: skip
        else:
            family.add_sample(family.name, labels, point.value)
        return
    cumulative = 0
    bounds = [*point.explicit_bounds, math.inf]
    for i, (bound, count) in enumerate(zip(bounds, point.bucket_counts, strict=False)):
        cumulative += count
        ex = series.exemplars.get(i)
        family.add_sample(
            family.name + "_bucket", {**labels, "le": floatToGoString(bound)}, cumulative,
            exemplar=_exemplar(ex) if ex is not None else None,
        )  # fmt: skip
    family.add_sample(family.name + "_count", labels, point.count)
    family.add_sample(family.name + "_sum", labels, point.sum)
