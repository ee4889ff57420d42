"""Typed configs from YAML mappings: dataclass fields are the keys; errors name the key path.

`from_mapping(Cls, raw)` fills a dataclass from a mapping: missing keys keep their defaults, unknown
keys are an error listing the valid ones, values are checked against the field's type (int, float,
bool, str, list[str], dict[str, str], nested dataclasses, `X | None`). Fields annotated with
`Duration` accept seconds as a number or a string with a unit (`250ms`, `5s`, `2m`, `1h`).
Errors are `ValueError("window.size: expected an integer, got 'ten'")`; the loader prefixes the
component path (`processors.drift.`) and the file name. `expand_env` substitutes environment
references before that.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import yaml

from otelml import safe_yaml

__all__ = ["Duration", "expand_env", "from_mapping", "parse_duration"]

T = TypeVar("T")

Duration = Annotated[float, "duration"]
"""A float number of seconds that YAML may also spell `500ms`, `10s`, `5m`, `1h`."""

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d)?\s*$")


def parse_duration(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected a duration like 5s or 250ms, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{key}: expected a duration like 5s or 250ms, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"{key}: must not be negative, got {value!r}")
    return seconds


def from_mapping(cls: type[T], raw: Any, prefix: str = "") -> T:
    """Build dataclass `cls` from `raw` (a mapping or None = all defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        where = prefix.rstrip(".") or "config"
        raise ValueError(f"{where}: expected a mapping of keys, got {type(raw).__name__} {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls, include_extras=True)
    unknown = [k for k in raw if k not in fields]
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise ValueError(f"{prefix}{unknown[0]}: unknown key (valid keys: {valid})")
    values = {name: _convert(hints[name], value, f"{prefix}{name}") for name, value in raw.items()}
    obj = cls(**values)
    return obj


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        if "duration" in meta:
            return parse_duration(value, key)
        return _convert(base, value, key)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        errors = []
        for arg in args:
            try:
                return _convert(arg, value, key)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0])
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key + ".")  # type: ignore[arg-type]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{key}: expected a string, got {value!r}")
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        return [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(item, v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    raise TypeError(f"{key}: unsupported config field type {tp!r}")


_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(node: Any, key: str) -> Any:
    """Substitute `${env:NAME}`, `${env:NAME:-default}` and `${NAME}` in every string of a YAML document
    (`key` names the place in errors)."""
    if isinstance(node, dict):
        return {k: expand_env(v, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, f"{key}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def sub(m: re.Match[str]) -> str:
            value = os.environ.get(m.group(1))
            if value is None:
                if m.group(2) is None:
                    raise ValueError(
                        f"{key}: environment variable {m.group(1)} is not set "
                        f"(write ${{env:{m.group(1)}:-default}} to give a default)"
                    )
                return m.group(2)
            return value

        expanded = _ENV_REF.sub(sub, node)
        if expanded != node and _ENV_REF.fullmatch(node):
            return _typed(expanded)
        return expanded
    return node


def _typed(text: str) -> Any:
    """A whole-value `${env:...}` typed like YAML (5 -> int, [a, b] -> list), but a scalar only when its text
    round-trips: a token `0123` or `1:30` stays the text (YAML 1.1 would read octal 83 and 90 seconds)."""
    if not text.strip():
        return text
    try:
        typed = safe_yaml.load(text)
    except (ValueError, yaml.YAMLError):
        return text
    if isinstance(typed, bool | int | float) or typed is None:
        return typed if str(typed).lower() == text.strip().lower() else text
    return typed
