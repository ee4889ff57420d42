"""Checkpoints of the quality processor's open windows in the sidecar's StateStore (namespace
`quality.window`, key JSON `[model, version]`, value JSON), as the drift processor keeps its own:
written every `checkpoint_seconds` and at shutdown, restored at start, so a restart (or a crash,
minus the last interval) neither evaluates a half-filled window early nor forgets its rows.

JSON, not pickle: columns as lists with their kind, ids as hex, the window's age in wall-clock seconds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NS_WINDOW", "window_from_json", "window_to_json"]

NS_WINDOW = "quality.window"


def window_to_json(window: Any) -> dict[str, Any]:
    frame = pd.concat(window.frames, ignore_index=True) if window.frames else pd.DataFrame()
    columns = {}
    for name in frame.columns:
        values = frame[name].to_numpy()
        numeric = values.dtype.kind in "fiub"
        listed = values.astype(float).tolist() if numeric else values.tolist()
        columns[str(name)] = {"numeric": numeric, "values": [_plain(v, numeric) for v in listed]}
    ids = window.ids
    return {
        "age_seconds": time.monotonic() - window.opened,
        "total": window.total,
        "kept": window.kept,
        "present": sorted(window.present),
        "columns": columns,
        "trace_ids": [bytes(t).hex() for part, _ in ids for t in part],
        "span_ids": [bytes(s).hex() for _, part in ids for s in part],
    }


def window_from_json(doc: dict[str, Any], make: Any) -> Any:
    """The `_Window` (built by `make(opened)`) a checkpoint describes."""
    window = make(time.monotonic() - max(0.0, float(doc["age_seconds"])))
    window.total, window.kept = int(doc["total"]), int(doc["kept"])
    window.present = set(doc["present"])
    data = {
        name: np.array([np.nan if v is None else v for v in col["values"]], dtype=float)
        if col["numeric"]
        else np.array(col["values"], dtype=object)
        for name, col in doc["columns"].items()
    }
    if data:
        window.frames = [pd.DataFrame(data, copy=False)]
        trace = np.array([np.frombuffer(bytes.fromhex(h), np.uint8) for h in doc["trace_ids"]], np.uint8)
        span = np.array([np.frombuffer(bytes.fromhex(h), np.uint8) for h in doc["span_ids"]], np.uint8)
        window.ids = [(trace.reshape(-1, 16), span.reshape(-1, 8))]
    return window




def _plain(value: Any, numeric: bool) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None  # missing (NaN is not JSON)
    return value if numeric else str(value)
