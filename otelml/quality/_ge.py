"""Great Expectations interop: read an expectation suite (GE 0.x `expectation_type` or GE 1.x `type`
entries, each with `kwargs`) into otelml expectations with GE's meaning.

Types otelml cannot check, and supported types carrying options otelml does not implement (e.g.
`row_condition`), become an `unsupported` expectation that always fails and names the type and the
option: a gate never passes silently on a check it did not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otelml.quality._errors import ExpectationFileError
from otelml.quality._model import Expectation
from otelml.quality._params import _check_params, _ParamError
from otelml.quality._yaml import line_of

__all__ = ["GE_TYPES", "parse_ge_suite"]

_BOUNDS = {"min_value": "min", "max_value": "max", "strict_min": "strict_min", "strict_max": "strict_max"}
# GE type -> (otelml kind, GE kwarg -> otelml param). `column` is handled for every column type.
GE_TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "expect_column_to_exist": ("exists", {}),
    "expect_column_values_to_not_be_null": ("not_null", {"mostly": "mostly"}),
    "expect_column_values_to_be_between": ("between", {**_BOUNDS, "mostly": "mostly"}),
    "expect_column_values_to_be_in_set": ("in_set", {"value_set": "values", "mostly": "mostly"}),
    "expect_column_values_to_be_unique": ("unique", {"mostly": "mostly"}),
    "expect_column_values_to_match_regex": ("regex", {"regex": "pattern", "mostly": "mostly"}),
    "expect_table_row_count_to_be_between": ("row_count", dict(_BOUNDS)),
    "expect_table_row_count_to_equal": ("row_count", {"value": "value"}),
    "expect_column_mean_to_be_between": ("mean", dict(_BOUNDS)),
    "expect_column_stdev_to_be_between": ("std", dict(_BOUNDS)),
    "expect_column_median_to_be_between": ("median", dict(_BOUNDS)),
    "expect_column_min_to_be_between": ("minimum", dict(_BOUNDS)),
    "expect_column_max_to_be_between": ("maximum", dict(_BOUNDS)),
    "expect_column_values_to_not_be_in_set": ("not_in_set", {"value_set": "values", "mostly": "mostly"}),
    "expect_column_values_to_be_of_type": ("of_type", {"type_": "types", "mostly": "mostly"}),
    "expect_column_values_to_be_in_type_list": ("of_type", {"type_list": "types", "mostly": "mostly"}),
    "expect_column_quantile_values_to_be_between": (
        "quantiles", {"quantile_ranges": "quantile_ranges", "allow_relative_error": "allow_relative_error"}),
}
# Keys that change nothing about the verdict.
_IGNORED = {"result_format", "catch_exceptions", "include_config", "meta", "notes", "description",
            "severity", "id", "rendered_content", "batch_id", "windows"}
_NONE_OK = ("condition_parser", "row_condition", "column_index")
_TABLE_TYPES = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}


def parse_ge_suite(doc: Mapping[str, Any], path: str) -> list[Expectation]:
    items = doc["expectations"]
    out: list[Expectation] = []
    for i, item in enumerate(items):
        keypath = f"expectations[{i}]"
        line = line_of(items, i)
        if not isinstance(item, Mapping):
            raise ExpectationFileError(path, "expected a mapping with `type` and `kwargs`", line=line,
                                       key=keypath)
        ge_type = item.get("type", item.get("expectation_type"))
        if not isinstance(ge_type, str):
            raise ExpectationFileError(path, "missing `type` (GE 1.x) or `expectation_type` (GE 0.x)",
                                       line=line, key=keypath)
        kwargs = item.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise ExpectationFileError(path, "expected a mapping", line=line_of(item, "kwargs"),
                                       key=f"{keypath}.kwargs")
        out.append(_convert(ge_type, dict(kwargs), path, line, keypath, item))
    return out


def _convert(ge_type: str, kwargs: dict[str, Any], path: str, line: int | None, keypath: str,
             item: Mapping[str, Any]) -> Expectation:
    source = f"{path}:{line}" if line else path
    column = kwargs.pop("column", None)
    if ge_type not in GE_TYPES:
        return _unsupported(ge_type, column, source, f"Great Expectations type {ge_type!r} is not supported "
                            "by otelml; remove it from the suite or check it with Great Expectations")
    kind, mapping = GE_TYPES[ge_type]
    if ge_type not in _TABLE_TYPES and not isinstance(column, str):
        raise ExpectationFileError(path, "missing `column`", line=line, key=f"{keypath}.kwargs.column")
    params: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _IGNORED or (key in _NONE_OK and value is None):
            continue
        if key not in mapping:
            return _unsupported(ge_type, column, source, f"option {key!r} of {ge_type} is not supported by "
                                "otelml; remove it or check this expectation with Great Expectations")
        params[mapping[key]] = value
    if kind == "quantiles":
        params = _quantile_params(params, path, line, keypath)
    elif ge_type == "expect_column_values_to_be_in_type_list":
        params["list"] = True
    elif ge_type == "expect_table_row_count_to_equal":
        params = {"min": params.get("value"), "max": params.get("value")}
    try:
        checked = _check_params(kind, params)
    except _ParamError as exc:
        ge_key = next((k for k, v in mapping.items() if v == exc.key), exc.key)
        problem = str(exc).replace("`min`", "`min_value`").replace("`max`", "`max_value`")
        raise ExpectationFileError(path, problem, line=line_of(item, "kwargs") or line,
                                   key=f"{keypath}.kwargs.{ge_key}" if ge_key else f"{keypath}.kwargs",
                                   ) from None
    return Expectation(kind, column if ge_type not in _TABLE_TYPES else None, checked, source=source,
                       ge_type=ge_type)


def _quantile_params(params: dict[str, Any], path: str, line: int | None, keypath: str) -> dict[str, Any]:
    ranges = params.get("quantile_ranges")
    key = f"{keypath}.kwargs.quantile_ranges"
    if not isinstance(ranges, Mapping) or not isinstance(ranges.get("quantiles"), list) \
            or not isinstance(ranges.get("value_ranges"), list) \
            or len(ranges["quantiles"]) != len(ranges["value_ranges"]):
        raise ExpectationFileError(path, "expected {quantiles: [...], value_ranges: [[min, max], ...]} "
                                   "of equal length", line=line, key=key)
    # GE's pandas engine reads quantiles with interpolation "nearest" unless told otherwise.
    rel = params.get("allow_relative_error") or "nearest"
    spec = {q: list(r) if isinstance(r, list | tuple) else r
            for q, r in zip(ranges["quantiles"], ranges["value_ranges"], strict=True)}
    return {"quantiles": spec, "interpolation": rel if isinstance(rel, str) else "nearest"}


def _unsupported(ge_type: str, column: Any, source: str, why: str) -> Expectation:
    return Expectation("unsupported", column if isinstance(column, str) else None,
                       {"ge_type": ge_type, "reason": why}, source=source, ge_type=ge_type)
