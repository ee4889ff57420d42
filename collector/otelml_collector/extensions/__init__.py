"""Extensions (`extensions:` in the config, enabled by `service.extensions`): components that are not
in a pipeline but serve the others, e.g. `bearertokenauth`, which servers name in `auth.authenticator`.

Each extension type lives in its own module here and registers its factory (kind "extension") in
`otelml_collector.registry` on import; `registry.EXTENSION_MODULES` maps the type to that module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_server_security", "check_storage_refs", "enabled_extensions"]


def enabled_extensions(listed: Sequence[str], defined: Mapping[str, Any]) -> dict[str, Any]:
    """The specs of the extensions `service.extensions` lists, in its order (as in the Collector, one
    defined but not listed is not started). ValueError names the bad entry."""
    enabled: dict[str, Any] = {}
    for i, name in enumerate(listed):
        if name not in defined:
            raise ValueError(
                f"service.extensions[{i}]: extension {name!r} is not defined under extensions: "
                f"(defined: {', '.join(defined) or 'none'})"
            )
        if name in enabled:
            raise ValueError(f"service.extensions[{i}]: lists {name!r} twice")
        enabled[name] = defined[name]
    return enabled


def check_server_security(servers: Sequence[tuple[str, Any]], extensions: Mapping[str, Any]) -> None:
    """For each (key, server settings): TLS files readable; `auth.authenticator` an enabled extension
    whose factory authenticates requests (`server_authenticator = True`)."""
    for key, conf in servers:
        tls, auth = getattr(conf, "tls", None), getattr(conf, "auth", None)
        if tls is not None:
            tls.validate(f"{key}.tls")
        if auth is None:
            continue
        auth.validate(f"{key}.auth")
        spec = extensions.get(auth.authenticator)
        if spec is None:
            raise ValueError(
                f"{key}.auth.authenticator: {auth.authenticator!r} is not an extension listed in "
                f"service.extensions (listed: {', '.join(extensions) or 'none'})"
            )
        if not getattr(spec.factory, "server_authenticator", False):
            raise ValueError(
                f"{key}.auth.authenticator: extension {auth.authenticator!r} does not authenticate "
                "requests (use e.g. bearertokenauth)"
            )


def check_storage_refs(exporters: Mapping[str, Any], extensions: Mapping[str, Any]) -> None:
    """Each exporter's `sending_queue.storage` names an enabled extension that stores queues
    (`file_storage`)."""
    for name, spec in exporters.items():
        storage = getattr(getattr(spec.config, "sending_queue", None), "storage", None)
        if storage is None:
            continue
        ext = extensions.get(storage)
        if ext is None or not getattr(ext.factory, "storage", False):
            raise ValueError(
                f"exporters.{name}.sending_queue.storage: {storage!r} is not an enabled file_storage "
                f"extension (define it under extensions: and list it in service.extensions; "
                f"listed: {', '.join(extensions) or 'none'})"
            )
