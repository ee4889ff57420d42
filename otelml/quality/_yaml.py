"""YAML loading that remembers the line of every mapping key and list item, for error messages."""

from __future__ import annotations

from typing import Any

import yaml

from otelml.quality._errors import ExpectationFileError
from otelml.safe_yaml import NoAliasLoader

__all__ = ["MarkedDict", "MarkedList", "line_of", "load_yaml"]


class MarkedDict(dict):
    """A dict that knows the 1-based line of itself and of each of its keys."""

    line: int | None = None
    key_lines: dict[Any, int]


class MarkedList(list):
    line: int | None = None
    item_lines: list[int]


class _Loader(NoAliasLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, path: str) -> Any:
    """Parse YAML (or JSON, a subset) keeping line marks; syntax errors name the file and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ExpectationFileError(path, f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise ExpectationFileError(path, f"invalid YAML: {exc}") from None


def line_of(container: Any, key: Any = None) -> int | None:
    """Line of `key` in a MarkedDict / index in a MarkedList, else of the container itself."""
    if isinstance(container, MarkedDict):
        if key is not None and key in container.key_lines:
            return container.key_lines[key]
        return container.line
    if isinstance(container, MarkedList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return None
