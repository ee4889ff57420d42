"""Model inputs and outputs -> span attributes. The one place where the capture policy is applied.

``feature_attributes`` turns a model input (numpy 1-D row or 2-D array, list row or list of rows,
pandas DataFrame or Series, scipy sparse matrix, mapping name -> value) into ``ml.feature.<name>``
attributes, masked per the active :class:`~otelml._config.OtelmlConfig`:

- one row -> scalar attributes; a batch -> one array attribute per feature plus ``ml.batch.size``;
  a batch longer than ``max_batch_rows`` -> a uniform random sample of rows (sorted), listed in
  ``ml.batch.sampled_rows``; ``prediction_attributes`` takes the same rows of the outputs;
- redact -> ``"[REDACTED]"``; hash -> ``"sha256:<hex of sha256(salt + str(value))>"``; drop -> no
  attribute; ``capture_features=False`` -> no ``ml.feature.*`` attribute at all (``ml.batch.*`` stay);
- feature names match the masking lists either as the model sees them or in normalised form;
- at most ``max_attributes`` feature attributes (in column order); strings cut to ``max_string_length``;
- a missing single value (None, pd.NA, NaT) is left out (OTel attributes have no null); NaN and
  infinities are kept as doubles.

The key/mask plan is computed once per column set and cached here, behind :func:`feature_attributes`
(the one entry point: instrumentors never hold a plan of their own, so masking cannot be skipped). The
plan of the last single numeric row recorded as is (every column, no masking) is remembered with its
shape, names object and config, so the same row again costs one ``tolist()`` and one ``zip``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from otelml._config import OtelmlConfig
from otelml.semconv import (
    ML_BATCH_SAMPLED_ROWS,
    ML_BATCH_SIZE,
    ML_FEATURE_PREFIX,
    ML_PREDICTION_SCORE,
    ML_PREDICTION_VALUE,
    normalize_feature_names,
)

__all__ = ["REDACTED", "RowSelection", "feature_attributes", "mask_columns", "prediction_attributes"]

_log = logging.getLogger("otelml")

REDACTED = "[REDACTED]"
_PLAIN, _REDACT, _HASH = 0, 1, 2
_NUMERIC = frozenset("biuf")
_NUMBER_TYPES = frozenset((int, float))
_MISSING_TYPES = frozenset({"NAType", "NaTType"})


class RowSelection(NamedTuple):
    """Rows of a batch call that were captured: ``indices`` is None when every row was."""

    size: int
    indices: np.ndarray | None


class _Plan:
    """Attribute keys and masks for one column set under one config."""

    __slots__ = ("cols", "keys", "modes", "salt")

    def __init__(self, names: Sequence[Any], config: OtelmlConfig) -> None:
        normalized = normalize_feature_names(names)
        keys: list[str] = []
        cols: list[int] = []
        modes: list[int] = []
        for index, (raw, norm) in enumerate(zip(names, normalized, strict=True)):
            name = str(raw)
            if name in config.drop_features or norm in config.drop_features:
                continue
            if name in config.redact_features or norm in config.redact_features:
                mode = _REDACT
            elif name in config.hash_features or norm in config.hash_features:
                mode = _HASH
            else:
                mode = _PLAIN
            keys.append(ML_FEATURE_PREFIX + norm)
            cols.append(index)
            modes.append(mode)
        if len(keys) > config.max_attributes:
            _log.warning(
                "otelml: %d features but OTELML_MAX_ATTRIBUTES=%d; recording the first %d (from %r on, "
                "features are left out)",
                len(keys), config.max_attributes, config.max_attributes,
                str(names[cols[config.max_attributes]]),
            )
            del keys[config.max_attributes :], cols[config.max_attributes :], modes[config.max_attributes :]
        self.keys = keys
        # None = "every column, in order" / "no masking": lets the hot path skip both steps.
        self.cols: list[int] | None = None if cols == list(range(len(names))) else cols
        self.modes: list[int] | None = None if not any(modes) else modes
        self.salt = config.hash_salt


_plans: dict[Any, _Plan] = {}
_plans_config: OtelmlConfig | None = None
_last: tuple[Any, OtelmlConfig, _Plan] | None = None
_plans_lock = threading.Lock()
_MAX_PLANS = 256
# (feature names object, shape, config, attribute keys) of the last single numeric row recorded as is.
_last_row: tuple[Any, tuple[int, ...], OtelmlConfig, list[str]] | None = None
_ndarray = np.ndarray


def _plan(names_key: Any, names: Sequence[Any] | None, n_cols: int, config: OtelmlConfig) -> _Plan:
    global _plans_config, _last
    last = _last
    if last is not None and last[0] is names_key and last[1] is config:
        return last[2]
    key = names_key if isinstance(names_key, int) else tuple(names_key)
    with _plans_lock:
        if _plans_config is not config:
            _plans.clear()
            _plans_config = config
        plan = _plans.get(key)
        if plan is None:
            if len(_plans) >= _MAX_PLANS:
                _plans.clear()
            plan = _Plan(names if names is not None else [f"f{i}" for i in range(n_cols)], config)
            _plans[key] = plan
        _last = (names_key, config, plan)
    return plan


def _clean(value: Any, max_len: int) -> Any:
    """One value as an OTel attribute value (None when it has no representation)."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return value
    if kind is str:
        return value if len(value) <= max_len else value[:max_len]
    if isinstance(value, np.generic):
        return _clean(value.item(), max_len)
    if value is None or kind.__name__ in _MISSING_TYPES:
        return None
    if isinstance(value, bool):  # subclasses (enums...) as their base type
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return text if len(text) <= max_len else text[:max_len]


def _clean_list(values: list[Any], max_len: int) -> list[Any]:
    """A column as a homogeneous OTel array (ints widen to float, anything mixed with str becomes str)."""
    out = [_clean(v, max_len) for v in values]
    kinds = {type(v) for v in out if v is not None}
    if len(kinds) <= 1:
        return out
    if kinds <= {int, float}:
        return [None if v is None else float(v) for v in out]
    return [None if v is None else (v if type(v) is str else str(v)[:max_len]) for v in out]


def _hash(value: Any, salt: str) -> str:
    return "sha256:" + hashlib.sha256((salt + str(value)).encode()).hexdigest()


def _select(n: int, config: OtelmlConfig) -> RowSelection:
    if n <= config.max_batch_rows:
        return RowSelection(n, None)
    indices = np.sort(np.random.default_rng().choice(n, config.max_batch_rows, replace=False))
    return RowSelection(n, indices)


def _batch_attrs(rows: RowSelection) -> dict[str, Any]:
    attrs: dict[str, Any] = {ML_BATCH_SIZE: rows.size}
    if rows.indices is not None:
        attrs[ML_BATCH_SAMPLED_ROWS] = rows.indices.tolist()
    return attrs


def _as_table(X: Any, feature_names: Sequence[Any] | None) -> tuple[Any, Any, Any]:
    """(names key, names, data): data is a 1-D row (ndarray or list) or a 2-D ndarray / list of rows."""
    if isinstance(X, np.ndarray):
        return feature_names, feature_names, X
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X, "to_numpy"):  # pandas DataFrame
        return columns, columns, X.to_numpy()
    if hasattr(X, "index") and hasattr(X, "to_numpy") and getattr(X, "ndim", 0) == 1:  # pandas Series row
        return X.index, X.index, X.to_numpy()
    if type(X).__module__.startswith("scipy.sparse"):
        return feature_names, feature_names, X
    if isinstance(X, Mapping):
        names = list(X.keys())
        return names, names, list(X.values())
    if isinstance(X, list | tuple):
        return feature_names, feature_names, X
    raise TypeError(f"otelml: cannot record features from a {type(X).__name__}; pass a numpy array, "
                    "list, pandas DataFrame/Series, scipy sparse matrix or a mapping name -> value")


def _row_keys(X: Any, feature_names: Sequence[Any] | None, config: OtelmlConfig) -> list[str] | None:
    """The attribute keys of ``X`` when it is one numeric numpy row recorded as is (every column, no
    masking), in column order; None otherwise."""
    if type(X) is np.ndarray and X.dtype.kind in _NUMERIC and config.capture_features:
        shape = X.shape
        if (len(shape) == 2 and shape[0] == 1) or len(shape) == 1:
            n_cols = shape[-1]
            if feature_names is None or len(feature_names) == n_cols:
                plan = _plan(n_cols if feature_names is None else feature_names, feature_names, n_cols,
                             config)
                if plan.cols is None and plan.modes is None:
                    return plan.keys
    return None


def feature_attributes(
    X: Any, feature_names: Sequence[Any] | None, config: OtelmlConfig
) -> tuple[dict[str, Any], RowSelection | None]:
    """Feature attributes of one model input, and the captured rows (None for a single row)."""
    global _last_row
    # Hot path: the same single numeric numpy row as last time, no masking -> one tolist() and one zip.
    last = _last_row
    if (last is not None and type(X) is _ndarray and last[0] is feature_names and last[2] is config
            and X.shape == last[1] and X.dtype.kind in _NUMERIC):
        return dict(zip(last[3], X.ravel().tolist(), strict=False)), None
    keys = _row_keys(X, feature_names, config)
    if keys is not None:
        _last_row = (feature_names, X.shape, config, keys)
        return dict(zip(keys, X.ravel().tolist(), strict=False)), None
    if (type(X) is list and feature_names is not None and len(X) == len(feature_names)
            and config.capture_features and set(map(type, X)) <= _NUMBER_TYPES):
        # One named row of Python numbers (Feast entity keys): as the loop below would record it
        plan = _plan(feature_names, feature_names, len(X), config)
        if plan.cols is None and plan.modes is None:
            return dict(zip(plan.keys, X, strict=False)), None
    pre: RowSelection | None = None
    if getattr(X, "columns", None) is not None and hasattr(X, "iloc") and len(X) > config.max_batch_rows:
        pre = _select(len(X), config)  # sample a large DataFrame before converting it
        X = X.iloc[pre.indices]
    data: Any
    names_key, names, data = _as_table(X, feature_names)
    sparse = type(data).__module__.startswith("scipy.sparse")
    if isinstance(data, np.ndarray) or sparse:
        ndim = data.ndim
        n_rows = 1 if ndim == 1 else data.shape[0]
        n_cols = data.shape[-1] if ndim else 0
    else:
        batch = bool(data) and isinstance(data[0], list | tuple | np.ndarray)
        n_rows = len(data) if batch else 1
        n_cols = len(data[0]) if batch else len(data)
        ndim = 2 if batch else 1
    rows = pre if pre is not None else None if n_rows == 1 else _select(n_rows, config)
    attrs = {} if rows is None else _batch_attrs(rows)
    if not config.capture_features or n_rows == 0:
        return attrs, rows
    if names is not None and len(names) != n_cols:
        names_key, names = None, None  # names from another shape; fall back to f0..fN
    plan = _plan(n_cols if names_key is None else names_key, names, n_cols, config)
    max_len = config.max_string_length

    if rows is None:  # one row -> scalars
        if sparse:
            row = data.toarray()[0].tolist()
        elif isinstance(data, np.ndarray):
            row = (data[0] if ndim == 2 else data).tolist()
            numeric = data.dtype.kind in _NUMERIC
        else:
            row = list(data[0] if ndim == 2 else data)
            numeric = False
        if sparse:
            numeric = True
        if plan.cols is not None:
            row = [row[i] for i in plan.cols]
        if plan.modes is None and numeric:
            attrs.update(zip(plan.keys, row, strict=False))
            return attrs, rows
        salt = plan.salt
        modes = plan.modes or [_PLAIN] * len(plan.keys)
        for key, value, mode in zip(plan.keys, row, modes, strict=False):
            value = _clean(value, max_len)
            if value is None:
                continue
            attrs[key] = value if mode == _PLAIN else REDACTED if mode == _REDACT else _hash(value, salt)
        return attrs, rows

    # a batch -> one array per feature, over the captured rows
    idx = rows.indices if pre is None else None
    if sparse:
        sub = (data.tocsr()[idx] if idx is not None else data).toarray()
    elif isinstance(data, np.ndarray):
        sub = data[idx] if idx is not None else data
    else:
        sub = np.empty((len(data) if idx is None else len(idx), n_cols), dtype=object)
        sub[:] = [data[i] for i in idx] if idx is not None else data
    numeric = sub.dtype.kind in _NUMERIC
    columns = sub.T.tolist() if plan.cols is None else sub[:, plan.cols].T.tolist()
    salt = plan.salt
    modes = plan.modes or [_PLAIN] * len(plan.keys)
    for key, column, mode in zip(plan.keys, columns, modes, strict=False):
        if mode == _REDACT:
            attrs[key] = [REDACTED] * len(column)
        elif mode == _HASH:
            attrs[key] = [_hash(v, salt) for v in _clean_list(column, max_len)]
        else:
            attrs[key] = column if numeric else _clean_list(column, max_len)
    return attrs, rows


def _output(value: Any, rows: RowSelection | None, config: OtelmlConfig) -> Any:
    """A model output (scalar, or one entry per row) as an attribute value over the captured rows."""
    if rows is None and type(value) is np.ndarray and value.shape == (1,) and value.dtype.kind in _NUMERIC:
        return value.tolist()[0]  # one numeric row (the common case): its Python scalar
    max_len = config.max_string_length
    if not isinstance(value, np.ndarray):
        if hasattr(value, "to_numpy"):  # pandas Series / DataFrame
            value = value.to_numpy()
        elif isinstance(value, list | tuple):
            value = np.asarray(value) if value and not isinstance(value[0], str) else np.array(value, object)
        else:
            return _clean(value, max_len)
    if value.ndim == 0:
        return _clean(value.item(), max_len)
    if rows is None or rows.size != len(value):
        if len(value) == 1:
            one = value[0]
            if isinstance(one, np.ndarray):  # multi-output, one row
                return _clean_list(one.tolist(), max_len)
            return _clean(one, max_len)
        rows = _select(len(value), config)
    sub = value if rows.indices is None else value[rows.indices]
    if sub.ndim > 1:  # multi-output batch: OTel arrays cannot nest, so one string per row
        return [str(r)[:max_len] for r in sub.tolist()]
    out = sub.tolist()
    return out if sub.dtype.kind in _NUMERIC else _clean_list(out, max_len)


def prediction_attributes(
    value: Any, score: Any, rows: RowSelection | None, config: OtelmlConfig
) -> dict[str, Any]:
    """``ml.prediction.value`` (and ``ml.prediction.score`` when given) over the same rows as the features."""
    kind = type(value)
    if (kind is int or kind is float or kind is bool) and (score is None or type(score) is float):
        if score is None:
            return {ML_PREDICTION_VALUE: value}
        return {ML_PREDICTION_VALUE: value, ML_PREDICTION_SCORE: score}
    attrs: dict[str, Any] = {}
    out = _output(value, rows, config)
    if out is not None:
        attrs[ML_PREDICTION_VALUE] = out
    if score is not None:
        out = _output(score, rows, config)
        if out is not None:
            attrs[ML_PREDICTION_SCORE] = out
    return attrs


def mask_columns(columns: Mapping[str, Any], config: OtelmlConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """The capture policy applied to a whole table that is profiled outside the service (a baseline).

    Dropped and redacted columns are left out, hashed ones hashed exactly as on spans (so a profile of
    hashes compares with span values); returns the kept columns and ``{column: "dropped"|"redacted"|
    "hashed"}`` for what the policy touched.
    """
    names = [str(name) for name in columns]
    plan = _Plan(names, config)
    cols = plan.cols if plan.cols is not None else list(range(len(names)))
    modes = plan.modes if plan.modes is not None else [_PLAIN] * len(cols)
    kept: dict[str, Any] = {}
    how = dict.fromkeys(names, "dropped")
    for index, mode in zip(cols, modes, strict=True):
        name = names[index]
        how[name] = ("plain", "redacted", "hashed")[mode]
        values = columns[name]
        if mode == _REDACT:
            continue
        if mode == _HASH:
            cells = values.tolist() if hasattr(values, "tolist") else list(values)
            values = [None if (v := _clean(c, config.max_string_length)) is None else _hash(v, plan.salt)
                      for c in cells]
        kept[name] = values
    return kept, {name: what for name, what in how.items() if what != "plain"}
