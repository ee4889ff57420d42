"""Extensions (`extensions:` in the config, enabled by `service.extensions`), as in the Collector:
parsing of the section and the checks of references to them."""

from __future__ import annotations

from typing import Any

__all__ = ["check_storage_refs", "enabled_extensions", "parse_extensions"]

_EXTENSION_TYPES = ("file_storage",)


def parse_extensions(raw: Any) -> dict[str, Any]:
    """`extensions:` -> name -> typed config (`file_storage` or `file_storage/<label>`)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"extensions: expected a mapping of extension names to settings, got {raw!r}")
    from otelml_collector.extensions.file_storage import parse_file_storage

    out: dict[str, Any] = {}
    for name in raw:
        kind = str(name).split("/", 1)[0]
        if kind == "file_storage":
            out[str(name)] = parse_file_storage(raw[name], f"extensions.{name}.")
        else:
            raise ValueError(
                f"extensions.{name}: unknown extension type {kind!r} "
                f"(available: {', '.join(_EXTENSION_TYPES)})"
            )
    return out


def enabled_extensions(defined: dict[str, Any], listed: list[str]) -> dict[str, Any]:
    for i, name in enumerate(listed):
        if name not in defined:
            raise ValueError(
                f"service.extensions[{i}]: extension {name!r} is not defined under extensions: "
                f"(defined: {', '.join(defined) or 'none'})"
            )
    return {name: defined[name] for name in listed}


def check_storage_refs(exporters: dict[str, Any], enabled: dict[str, Any]) -> None:
    for name, spec in exporters.items():
        queue = getattr(spec.config, "sending_queue", None)
        storage = getattr(queue, "storage", None)
        if storage is None:
            continue
        if storage not in enabled or str(storage).split("/", 1)[0] != "file_storage":
            raise ValueError(
                f"exporters.{name}.sending_queue.storage: {storage!r} is not an enabled file_storage "
                f"extension (define it under extensions: and list it in service.extensions)"
            )
