"""Per model version: the reference (baseline or warm-up buffer) and the open window.

`ModelBaseline` holds one stats-core profile per tracked column: every `ml.feature.<name>` as
`<name>`, the model output as `prediction.value` / `prediction.score`. `OpenWindow` feeds batch
columns into the stats core's mergeable windows (vectorised per column), files exemplar candidates
per bin, and reports which rows hold values the baseline (almost) never saw. `WarmupBuffer`
collects the first N observations of a model version and turns them into a baseline.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otelml import stats
from otelml_collector.processors.drift.reservoir import BinReservoir
from otelml_collector.records import ModelBatch

__all__ = [
    "PRED_SCORE",
    "PRED_VALUE",
    "ModelBaseline",
    "OpenWindow",
    "WarmupBuffer",
    "columns_of",
    "take_rows",
]

EXEMPLAR_ROWS_PER_BATCH = 64  # rows of each batch offered to the exemplar reservoirs
PRED_VALUE = "prediction.value"
PRED_SCORE = "prediction.score"


def columns_of(batch: ModelBatch) -> dict[str, np.ndarray]:
    """Every tracked column of a batch by name (features, then the model output)."""
    cols: dict[str, np.ndarray] = {**batch.numeric, **batch.categorical}
    if batch.prediction_value is not None:
        cols[PRED_VALUE] = batch.prediction_value
    if batch.prediction_score is not None:
        cols[PRED_SCORE] = batch.prediction_score
    return cols


def take_rows(batch: ModelBatch, rows: np.ndarray) -> ModelBatch:
    """The rows `rows` of a batch as a batch of their own (span offsets dropped: no tagging from it)."""
    pids = batch.prediction_id
    return ModelBatch(
        model=batch.model,
        version=batch.version,
        trace_id=batch.trace_id[rows],
        span_id=batch.span_id[rows],
        time_unix_nano=batch.time_unix_nano[rows],
        prediction_id=[pids[i] for i in rows.tolist()],
        numeric={k: v[rows] for k, v in batch.numeric.items()},
        categorical={k: v[rows] for k, v in batch.categorical.items()},
        prediction_value=None if batch.prediction_value is None else batch.prediction_value[rows],
        prediction_score=None if batch.prediction_score is None else batch.prediction_score[rows],
    )


def kind_of(name: str) -> str:
    return "prediction" if name in (PRED_VALUE, PRED_SCORE) else "feature"


@dataclass
class ModelBaseline:
    model: str
    version: str
    profiles: dict[str, stats.Profile]
    source: str  # "warmup" or the baseline file path
    rare: dict[str, np.ndarray] = field(default_factory=dict)  # name -> bool per bin: "almost never seen"
    segments: dict[tuple[str, str], ModelBaseline] = field(default_factory=dict)
    """(segment key, value) -> the baseline of those rows (from a file built with `--segment`)"""

    def mark_rare(self, rare_fraction: float) -> None:
        for part in self.segments.values():
            part.mark_rare(rare_fraction)
        for name, p in self.profiles.items():
            share = p.counts / max(int(p.counts.sum()), 1)
            rare = share < rare_fraction
            if isinstance(p, stats.NumericProfile):
                rare[0] = rare[-1] = True  # outside the baseline's range
            else:
                rare[p.other_bin] = p.counts[p.other_bin] == 0 or bool(rare[p.other_bin])
            self.rare[name] = rare

    @classmethod
    def from_file(cls, baseline: stats.Baseline, path: str) -> ModelBaseline:
        profiles = dict(baseline.features)
        if baseline.prediction is not None:
            profiles[PRED_VALUE] = baseline.prediction
        segments = {
            (key, value): cls.from_file(part, f"{path} [{key}={value}]")
            for key, values in baseline.segments.items()
            for value, part in values.items()
        }
        return cls(baseline.model, baseline.version or "", profiles, path, segments=segments)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "source": self.source,
            "profiles": {k: p.to_dict() for k, p in self.profiles.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelBaseline:
        profiles = {k: stats.profile_from_dict(v) for k, v in d["profiles"].items()}
        return cls(d["model"], d["version"], profiles, d["source"])


class WarmupBuffer:
    """The first `target` observations of a model version, column by column."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.columns: dict[str, list[np.ndarray]] = {}

    def add(self, cols: dict[str, np.ndarray], lo: int, hi: int) -> None:
        n = hi - lo
        for name, col in cols.items():
            parts = self.columns.setdefault(name, [])
            if not parts and self.count:  # column first seen now: earlier rows are missing
                parts.append(_missing_like(col, self.count))
            parts.append(np.asarray(col[lo:hi]))
        for name, parts in self.columns.items():
            if name not in cols:
                parts.append(_missing_like(parts[0], n))
        self.count += n

    def build(self, model: str, version: str, log: Any) -> ModelBaseline:
        profiles: dict[str, stats.Profile] = {}
        for name, parts in self.columns.items():
            values = np.concatenate(parts)
            try:
                profiles[name] = stats.profile_column(values, column=name)
            except ValueError as exc:  # e.g. every value missing: not tracked
                log.warning("drift: model %s %s: column %s gets no baseline: %s", model, version, name, exc)
        return ModelBaseline(model, version, profiles, "warmup")

    def to_blob(self) -> bytes:
        arrays = {}
        columns: list[dict[str, Any]] = []
        meta = {"target": self.target, "count": self.count, "columns": columns}
        for i, (name, parts) in enumerate(self.columns.items()):
            values = np.concatenate(parts) if parts else np.empty(0)
            numeric = values.dtype.kind == "f"
            if numeric:
                arrays[f"c{i}"] = values
            else:  # a JSON list (None = missing): costs each value's own length, not the longest's
                strings = [None if v is None else str(v) for v in values.tolist()]
                arrays[f"s{i}"] = np.frombuffer(json.dumps(strings).encode(), dtype=np.uint8)
            columns.append({"name": name, "numeric": numeric})
        return _pack(meta, arrays)

    @classmethod
    def from_blob(cls, blob: bytes) -> WarmupBuffer:
        meta, arrays = _unpack(blob)
        buf = cls(meta["target"])
        buf.count = meta["count"]
        for i, c in enumerate(meta["columns"]):
            if c["numeric"]:
                values = arrays[f"c{i}"]
            elif f"s{i}" in arrays:
                strings = json.loads(arrays[f"s{i}"].tobytes())
                values = np.empty(len(strings), dtype=object)
                values[:] = strings
            else:  # written before strings were stored as JSON: fixed-width str + missing mask
                values = arrays[f"c{i}"].astype(object)
                values[arrays[f"m{i}"]] = None
            buf.columns[c["name"]] = [values]
        return buf


def _missing_like(col: np.ndarray, n: int) -> np.ndarray:
    if np.asarray(col).dtype.kind == "f":
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


class OpenWindow:
    """The window being filled for one model version."""

    def __init__(self, baseline: ModelBaseline, per_bin: int, opened_ns: int) -> None:
        self.baseline = baseline
        self.names = list(baseline.profiles)
        self.windows = {name: baseline.profiles[name].new_window() for name in self.names}
        sizes = [baseline.profiles[name].n_bins for name in self.names]
        self.offsets = dict(zip(self.names, np.cumsum([0, *sizes])[:-1].tolist(), strict=True))
        self.reservoir = BinReservoir(int(sum(sizes)), per_bin)
        self.numeric = [n for n in self.names if baseline.profiles[n].kind == "numeric"]
        self.categorical = [n for n in self.names if n not in set(self.numeric)]
        self._num_offsets = np.array([self.offsets[n] for n in self.numeric], dtype=np.int64)
        self._num_index = np.array([self.names.index(n) for n in self.numeric], dtype=np.int64)
        self._rare = np.concatenate([baseline.rare[n] for n in self.names]) if baseline.rare else None
        self._rng = np.random.default_rng()
        self.count = 0
        self.opened_ns = opened_ns  # wall clock when the window opened (time-based closing)
        self.first_ns = 0  # span end times of the observations it holds
        self.last_ns = 0

    def add(
        self, batch: ModelBatch, cols: dict[str, np.ndarray], lo: int, hi: int, flag: bool
    ) -> np.ndarray | None:
        """Add rows [lo, hi) of a batch. With `flag`, returns a bool matrix (rows x names): the value of
        that column lies in a bin the baseline (almost) never saw; None when nothing is flagged."""
        n = hi - lo
        if n <= 0:
            return None
        # exemplar candidates: a uniform sample of the batch's rows (all of a small batch)
        sample = (
            np.arange(n)
            if n <= EXEMPLAR_ROWS_PER_BATCH
            else np.sort(self._rng.choice(n, EXEMPLAR_ROWS_PER_BATCH, replace=False))
        )
        rare_bins = self._rare
        flag = flag and rare_bins is not None
        hits: list[tuple[np.ndarray, np.ndarray]] = []  # (name index, bool per row)
        groups, values = [], []
        if self.numeric:
            x = np.empty((n, len(self.numeric)))
            for j, name in enumerate(self.numeric):
                col = cols.get(name)
                # a column of another type than the baseline's (e.g. strings) counts as missing values
                x[:, j] = col[lo:hi] if col is not None and col.dtype.kind in "fiub" else np.nan
            windows = [
                w for w in (self.windows[name] for name in self.numeric) if isinstance(w, stats.NumericWindow)
            ]
            bins = stats.update_numeric(windows, x)
            g = np.where(bins >= 0, bins + self._num_offsets, -1)
            groups.append(g[sample].ravel())
            values.append(x[sample].ravel())
            if flag and rare_bins is not None:
                rare = rare_bins[g] & (g >= 0)
                if rare.any():
                    hits.append((self._num_index, rare))
        for name in self.categorical:
            col = cols.get(name)
            if col is None:
                continue
            window = self.windows[name]
            part = col[lo:hi]
            cat_bins = None
            if isinstance(window, stats.CategoricalWindow):
                cat_bins = window.update_strings(part)
            if cat_bins is None:
                cat_bins = window.update(_fast_strings(part))
            g = np.where(cat_bins >= 0, cat_bins + self.offsets[name], -1)
            groups.append(g[sample])
            values.append(np.full(len(sample), np.nan))
            if flag and rare_bins is not None:
                rare = rare_bins[g] & (g >= 0)
                if rare.any():
                    hits.append((np.array([self.names.index(name)]), rare[:, None]))
        if groups:
            width = [len(gr) // len(sample) for gr in groups]
            rows = np.concatenate([np.repeat(sample + lo, w) for w in width])
            g = np.concatenate(groups)
            keep = g >= 0
            self.reservoir.offer(
                g[keep], rows[keep], batch.trace_id, batch.span_id, np.concatenate(values)[keep]
            )
        flagged = None
        if hits:
            flagged = np.zeros((n, len(self.names)), dtype=bool)
            for idx, rare in hits:
                flagged[:, idx] = rare
        t = batch.time_unix_nano[lo:hi]
        if n:
            tmin, tmax = int(t.min()), int(t.max())
            self.first_ns = tmin if not self.count else min(self.first_ns, tmin)
            self.last_ns = max(self.last_ns, tmax)
        self.count += n
        return flagged

    def exemplars(
        self, name: str, bins: tuple[int, ...], limit: int
    ) -> list[tuple[bytes, bytes, float | str]]:
        """Up to `limit` distinct predictions from `bins` (most contributing first), round-robin."""
        profile = self.baseline.profiles[name]
        pools: list[list[tuple[bytes, bytes, float | str]]] = []
        for b in bins:
            samples: list[tuple[bytes, bytes, float | str]] = list(
                self.reservoir.samples(self.offsets[name] + b)
            )
            if isinstance(profile, stats.CategoricalProfile):
                label = profile.categories[b] if b < profile.other_bin else "<other>"
                samples = [(t, s, label) for t, s, _ in samples]
            pools.append(samples)
        out: list[tuple[bytes, bytes, float | str]] = []
        seen: set[bytes] = set()
        for i in range(max((len(p) for p in pools), default=0)):
            for pool in pools:
                if i < len(pool) and pool[i][1] not in seen and len(out) < limit:
                    seen.add(pool[i][1])
                    out.append(pool[i])
        return out

    def to_blob(self) -> bytes:
        meta = {
            "names": self.names,
            "count": self.count,
            "opened_ns": self.opened_ns,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "windows": {name: w.to_dict() for name, w in self.windows.items()},
        }
        return _pack(meta, self.reservoir.to_arrays())

    @classmethod
    def from_blob(cls, blob: bytes, baseline: ModelBaseline, per_bin: int) -> OpenWindow:
        meta, arrays = _unpack(blob)
        if meta["names"] != list(baseline.profiles):
            raise ValueError("saved window does not match the baseline's columns")
        w = cls(baseline, per_bin, meta["opened_ns"])
        w.count, w.first_ns, w.last_ns = meta["count"], meta["first_ns"], meta["last_ns"]
        for name, d in meta["windows"].items():
            w.windows[name] = stats.window_from_dict(d, baseline.profiles[name])
        if arrays["value"].shape[1] == per_bin:
            w.reservoir = BinReservoir.from_arrays(arrays)
        return w


def _fast_strings(part: np.ndarray) -> np.ndarray:
    """A categorical column of str without missing values as a numpy str array: the stats core bins
    those with a C sort instead of a per-value key function (same keys for str values)."""
    if part.dtype == object and part.size and not (part == None).any():  # noqa: E711
        try:
            return part.astype(str)
        except (TypeError, ValueError):
            return part
    return part


def _pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    meta_bytes = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buf, __meta__=meta_bytes, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    return meta, arrays
