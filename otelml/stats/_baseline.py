"""The baseline file: one versioned JSON document with a profile per feature (docs/baseline-format.md).

Written by ``otelml baseline build``, read by the sidecar's drift processor
(``processors.drift.baseline.path``) and by ``otelml validate --baseline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from otelml.semconv import normalize_feature_name, normalize_feature_names
from otelml.stats._profile import DEFAULT_BINS, DEFAULT_TOP_K, Profile, profile_column, profile_from_dict

__all__ = ["FORMAT", "FORMAT_VERSION", "Baseline", "BaselineError", "build_baseline", "load_baseline"]

FORMAT = "otelml.baseline"
FORMAT_VERSION = 1
DEFAULT_MAX_SEGMENT_VALUES = 20  # per segment column, as processors.drift.max_segment_values


class BaselineError(ValueError):
    """A baseline file or baseline input is unusable; the message names the file and key."""


@dataclass(frozen=True)
class Baseline:
    """Reference profiles of one model version.

    ``features`` maps normalised feature names (the ``ml.feature.<name>`` suffix) to profiles whose
    ``column`` is the original column name; ``prediction``/``target`` are the profiles of the model output
    and ground-truth columns when they were named (they are not features)."""

    model: str
    version: str | None
    features: Mapping[str, Profile]
    row_count: int
    prediction: Profile | None = None
    target: Profile | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    source: str | None = None
    otelml_version: str = ""
    segments: Mapping[str, Mapping[str, Baseline]] = field(default_factory=dict)
    """segment key (the ``ml.segment.<key>`` suffix) -> segment value -> the profiles of those rows"""
    segment_columns: Mapping[str, str] = field(default_factory=dict)  # segment key -> original column

    def feature(self, name: str) -> Profile:
        """The profile of a feature by normalised or original column name; KeyError naming it otherwise."""
        if name in self.features:
            return self.features[name]
        for profile in self.features.values():
            if profile.column == name:
                return profile
        raise KeyError(f"feature {name!r} is not in the baseline of model {self.model!r}")

    def to_dict(self) -> dict[str, Any]:
        def one(p: Profile | None) -> dict[str, Any] | None:
            return None if p is None else p.to_dict()

        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "otelml_version": self.otelml_version or _otelml_version(),
            "created": self.created,
            "model": {"name": self.model, "version": self.version},
            "source": self.source,
            "row_count": self.row_count,
            "features": {name: p.to_dict() for name, p in self.features.items()},
            "prediction": one(self.prediction),
            "target": one(self.target),
        }
        if self.segments:
            doc["segments"] = {
                key: {
                    "column": self.segment_columns.get(key, key),
                    "values": {
                        value: {
                            "row_count": b.row_count,
                            "features": {name: p.to_dict() for name, p in b.features.items()},
                            "prediction": one(b.prediction),
                        }
                        for value, b in values.items()
                    },
                }
                for key, values in self.segments.items()
            }
        return doc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON document (atomically: a temporary file renamed into place)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<baseline>") -> Baseline:
        """Parse a baseline document; BaselineError names ``source`` and the offending key."""
        return _parse(data, source)


def _otelml_version() -> str:
    from otelml import __version__

    return __version__


def _need(data: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if key not in data:
        raise BaselineError(f"{source}: missing key '{where}{key}'")
    return data[key]


def _profile(data: Any, where: str, source: str) -> Profile:
    if not isinstance(data, Mapping):
        raise BaselineError(f"{source}: '{where}' must be an object with a profile")
    try:
        return profile_from_dict(data)
    except KeyError as exc:
        raise BaselineError(f"{source}: missing key '{where}.{exc.args[0]}'") from None
    except (TypeError, ValueError) as exc:
        raise BaselineError(f"{source}: invalid profile at '{where}': {exc}") from None


def _parse(data: Any, source: str) -> Baseline:
    if not isinstance(data, Mapping):
        raise BaselineError(f"{source}: a baseline must be a JSON object")
    if data.get("format") != FORMAT:
        raise BaselineError(f"{source}: key 'format' must be {FORMAT!r} (is this an otelml baseline file?)")
    version = _need(data, "format_version", "", source)
    if version != FORMAT_VERSION:
        raise BaselineError(
            f"{source}: 'format_version' is {version!r}; this otelml reads version {FORMAT_VERSION} - "
            "rebuild the baseline with `otelml baseline build`"
        )
    model = _need(data, "model", "", source)
    if not isinstance(model, Mapping) or not isinstance(model.get("name"), str) or not model["name"]:
        raise BaselineError(f"{source}: key 'model.name' must be a non-empty string")
    mversion = model.get("version")
    features = _need(data, "features", "", source)
    if not isinstance(features, Mapping):
        raise BaselineError(f"{source}: key 'features' must be an object of feature name -> profile")
    row_count = _need(data, "row_count", "", source)
    if not isinstance(row_count, int) or row_count < 0:
        raise BaselineError(f"{source}: key 'row_count' must be a non-negative integer")
    outputs = {}
    for key in ("prediction", "target"):
        raw = data.get(key)
        outputs[key] = None if raw is None else _profile(raw, key, source)
    segments, segment_columns = _parse_segments(data.get("segments"), model["name"], mversion, source)
    return Baseline(
        model=model["name"],
        version=None if mversion is None else str(mversion),
        features={str(k): _profile(v, f"features.{k}", source) for k, v in features.items()},
        segments=segments,
        segment_columns=segment_columns,
        row_count=row_count,
        prediction=outputs["prediction"],
        target=outputs["target"],
        created=str(data.get("created", "")),
        source=data.get("source"),
        otelml_version=str(data.get("otelml_version", "")),
    )


def _parse_segments(
    raw: Any, model: str, version: Any, source: str
) -> tuple[dict[str, dict[str, Baseline]], dict[str, str]]:
    """The optional ``segments`` key: per segment key and value, the profiles of those rows."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, Mapping):
        raise BaselineError(f"{source}: key 'segments' must be an object of segment key -> values")
    out: dict[str, dict[str, Baseline]] = {}
    columns: dict[str, str] = {}
    for key, section in raw.items():
        where = f"segments.{key}"
        if not isinstance(section, Mapping) or not isinstance(section.get("values"), Mapping):
            raise BaselineError(f"{source}: key '{where}.values' must be an object of value -> profiles")
        columns[str(key)] = str(section.get("column", key))
        out[str(key)] = {}
        for value, part in section["values"].items():
            at = f"{where}.values.{value}"
            if not isinstance(part, Mapping) or not isinstance(part.get("features"), Mapping):
                raise BaselineError(f"{source}: key '{at}.features' must be an object of feature -> profile")
            count = part.get("row_count", 0)
            if not isinstance(count, int) or count < 0:
                raise BaselineError(f"{source}: key '{at}.row_count' must be a non-negative integer")
            pred = part.get("prediction")
            out[str(key)][str(value)] = Baseline(
                model=model,
                version=None if version is None else str(version),
                features={
                    str(k): _profile(v, f"{at}.features.{k}", source) for k, v in part["features"].items()
                },
                row_count=count,
                prediction=None if pred is None else _profile(pred, f"{at}.prediction", source),
            )
    return out, columns


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file; BaselineError names the file (and key) on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"{p}: baseline file not found (build one with `otelml baseline build`)"
        ) from None
    except OSError as exc:
        raise BaselineError(f"{p}: cannot read baseline file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{p}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return _parse(data, str(p))


def build_baseline(
    data: Any,
    model: str,
    version: str | None = None,
    *,
    exclude: Iterable[str] = (),
    prediction: str | None = None,
    target: str | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    source: str | None = None,
    segments: Iterable[str] = (),
    max_segment_values: int = DEFAULT_MAX_SEGMENT_VALUES,
) -> Baseline:
    """Profile every column of ``data`` (a pandas DataFrame or a mapping of column name -> values).

    Columns in ``exclude`` are skipped; ``prediction``/``target`` are profiled separately; each column
    in ``segments`` is no feature but splits the rows: the rows of each of its ``max_segment_values``
    most frequent values are profiled again, under the value as text (as ``ml.segment.<key>`` carries
    it) and the normalised column name as key. Feature names
    are normalised as span attributes are (``otelml.semconv.normalize_feature_names``). Raises
    BaselineError naming the column for an unknown column, an empty table or a column without values."""
    label = source or "data"
    if not model:
        raise BaselineError(f"{label}: a model name is required")
    columns = {str(name): values for name, values in data.items()}
    row_count = len(next(iter(columns.values()))) if columns else 0
    if row_count == 0:
        raise BaselineError(f"{label}: no rows to build a baseline from")
    exclude = list(exclude)
    segments = list(segments)
    wanted = [("--exclude", c) for c in exclude] + [("--prediction", prediction), ("--target", target)]
    wanted += [("--segment", c) for c in segments]
    for role, name in wanted:
        if name is not None and name not in columns:
            raise BaselineError(
                f"{label}: column {name!r} given to {role} is not in the data "
                f"(columns: {', '.join(sorted(columns))})"
            )

    def prof(name: str) -> Profile:
        try:
            return profile_column(columns[name], bins=bins, top_k=top_k, column=name)
        except ValueError as exc:
            raise BaselineError(f"{label}: column {name!r}: {exc}; exclude it (--exclude)") from None

    skip = set(exclude) | set(segments) | {c for c in (prediction, target) if c}
    feature_cols = [c for c in columns if c not in skip]
    names = normalize_feature_names(feature_cols)
    features = {norm: prof(col) for norm, col in zip(names, feature_cols, strict=True)}
    by_segment: dict[str, dict[str, Baseline]] = {}
    for col in segments:
        by_segment[normalize_feature_name(col)] = {
            value: Baseline(
                model=model,
                version=version,
                features=_profiles_of(columns, feature_cols, names, rows, bins, top_k),
                row_count=int(rows.size),
                prediction=_profiles_of(columns, [prediction], ["p"], rows, bins, top_k).get("p")
                if prediction
                else None,
            )
            for value, rows in _segment_rows(columns[col], max_segment_values)
        }
    return Baseline(
        segments=by_segment,
        segment_columns={normalize_feature_name(c): c for c in segments},
        model=model,
        version=version,
        features=features,
        row_count=row_count,
        prediction=prof(prediction) if prediction else None,
        target=prof(target) if target else None,
        source=source,
        otelml_version=_otelml_version(),
    )


def _segment_rows(values: Any, limit: int) -> list[tuple[str, Any]]:
    """(value as text, row indices) of the `limit` most frequent values of a segment column (ties by
    text); missing values belong to no segment."""
    texts = np.array([None if _missing(v) else str(v) for v in list(values)], dtype=object)
    present = np.array([t is not None for t in texts], dtype=bool)
    kinds, counts = np.unique(texts[present].astype(str), return_counts=True)
    order = sorted(zip(kinds.tolist(), counts.tolist(), strict=True), key=lambda kc: (-kc[1], kc[0]))[:limit]
    return [(value, np.flatnonzero(present & (texts == value))) for value, _ in order]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _profiles_of(
    columns: Mapping[str, Any], cols: list[str], names: list[str], rows: Any, bins: int, top_k: int
) -> dict[str, Profile]:
    """Profiles of `cols` over `rows`; a column without a value in those rows is left out."""
    out: dict[str, Profile] = {}
    for name, col in zip(names, cols, strict=True):
        raw = columns[col]
        values = raw.to_numpy() if hasattr(raw, "to_numpy") else np.asarray(raw)
        try:
            out[name] = profile_column(values[rows], bins=bins, top_k=top_k, column=col)
        except ValueError:
            continue
    return out
