"""The optional C accelerator (`_fastscan.c`, built by `pip install -e .` when a compiler is present).

Three walks over a traces request's wire format: `check_traces` vouches that protobuf would accept the
bytes (so the receiver can skip decoding), `scan_spans` reads the `ml.*` attributes of inference
spans (the buffers the `ml_extract` processor turns into records; its rules are defined there), and
`scan_labels` the label spans the prediction index joins (`predstore.index.labels_of` defines them).
Without the C module `HAVE_FAST_SCAN` is False and callers use their protobuf reference paths.
"""

from __future__ import annotations

from typing import Any

try:
    from otelml_collector.otlp import _fastscan  # type: ignore[attr-defined]
except ImportError:  # no compiler at install time: the reference paths do the work
    _fastscan = None

__all__ = ["HAVE_FAST_SCAN", "check_traces", "check_traces_cells", "scan_labels", "scan_spans"]

HAVE_FAST_SCAN = _fastscan is not None


def check_traces(raw: bytes | memoryview) -> tuple[int, int] | None:
    """(spans, spans with invalid ids) when the C checker vouches that protobuf would accept `raw`,
    else None (not built, or bytes the protobuf parser must judge). Lets the receiver skip decoding."""
    checked = check_traces_cells(raw)
    return None if checked is None else checked[:2]


def check_traces_cells(raw: bytes | memoryview) -> tuple[int, int, int] | None:
    """`check_traces` plus the request's cells (attributes, kvlist entries, array elements; see
    `otlp.cells`), counted on the same walk."""
    if _fastscan is None:
        return None
    try:
        spans, bad, cells = _fastscan.check_traces(raw)
    except ValueError:
        return None
    return int(spans), int(bad), int(cells)


def scan_spans(raw: bytes | memoryview) -> tuple[bytes, bytes, list[str]]:
    """(span rows, cells, strings) of the inference spans of `raw`, as packed buffers; raises
    `ValueError` on bytes it does not read or `RuntimeError` if the C module was not built."""
    if _fastscan is None:
        raise RuntimeError("otelml_collector.otlp._fastscan is not built")
    return _fastscan.scan(raw)  # type: ignore[no-any-return]


def scan_labels(raw: bytes | memoryview) -> list[tuple[str, Any, int, float | None, bytes]] | None:
    """(prediction id, label value, end time ns, delay s or None, trace id) of each `label {model}`
    span with a prediction id and a scalar value, or None when the caller must decode: the module is
    not built, or the bytes or a value need protobuf (non-scalar values, merged fields)."""
    if _fastscan is None:
        return None
    try:
        return _fastscan.labels(raw)  # type: ignore[no-any-return]
    except ValueError:
        return None
