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

from otelml.semconv import normalize_feature_names
from otelml.stats._profile import DEFAULT_BINS, DEFAULT_TOP_K, Profile, profile_column, profile_from_dict

__all__ = ["FORMAT", "FORMAT_VERSION", "Baseline", "BaselineError", "build_baseline", "load_baseline"]

FORMAT = "otelml.baseline"
FORMAT_VERSION = 1


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

        return {
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
    return Baseline(
        model=model["name"],
        version=None if mversion is None else str(mversion),
        features={str(k): _profile(v, f"features.{k}", source) for k, v in features.items()},
        row_count=row_count,
        prediction=outputs["prediction"],
        target=outputs["target"],
        created=str(data.get("created", "")),
        source=data.get("source"),
        otelml_version=str(data.get("otelml_version", "")),
    )


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
) -> Baseline:
    """Profile every column of ``data`` (a pandas DataFrame or a mapping of column name -> values).

    Columns in ``exclude`` are skipped; ``prediction``/``target`` are profiled separately. Feature names
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
    wanted = [("--exclude", c) for c in exclude] + [("--prediction", prediction), ("--target", target)]
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

    skip = set(exclude) | {c for c in (prediction, target) if c}
    feature_cols = [c for c in columns if c not in skip]
    names = normalize_feature_names(feature_cols)
    features = {norm: prof(col) for norm, col in zip(names, feature_cols, strict=True)}
    return Baseline(
        model=model,
        version=version,
        features=features,
        row_count=row_count,
        prediction=prof(prediction) if prediction else None,
        target=prof(target) if target else None,
        source=source,
        otelml_version=_otelml_version(),
    )
