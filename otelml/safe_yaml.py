"""YAML for files a user hands us (expectations, sidecar configs): safe types only and no aliases.

An alias (`*name`) re-uses a node; nested aliases expand exponentially ("billion laughs": 351 bytes made
`otelml validate` build gigabytes). Configs and expectations never need them, so they are refused with the
line of the first one, and parsing stays linear in the file's size.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

__all__ = ["NoAliasLoader", "load"]


class NoAliasLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that raises a `yaml.MarkedYAMLError` at the first alias."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None,
                f"YAML aliases (*{event.anchor}) are not supported; write the value out in full",
                event.start_mark)
        return super().compose_node(parent, index)


def load(text: str) -> Any:
    """`yaml.safe_load` without aliases."""
    return yaml.load(text, Loader=NoAliasLoader)
