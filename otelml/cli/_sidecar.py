"""Reading the sidecar's HTTP API from the CLI: base URL resolution and one JSON GET."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["DEFAULT_URL", "ENV_URL", "SidecarError", "add_url_argument", "get_json", "sidecar_url"]

DEFAULT_URL = "http://127.0.0.1:8890"
ENV_URL = "OTELML_SIDECAR_URL"


class SidecarError(Exception):
    """The sidecar could not be reached or answered something that is not JSON (message names the URL)."""


def add_url_argument(parser: Any) -> None:
    parser.add_argument(
        "--url", default=None, help=f"sidecar HTTP API base URL (default: ${ENV_URL} or {DEFAULT_URL})"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the sidecar (default 10)"
    )


def sidecar_url(explicit: str | None) -> str:
    return (explicit or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")


def get_json(
    base: str, path: str, params: dict[str, Any] | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON) of `GET base+path?params`; 4xx answers are returned, not raised."""
    query = {k: v for k, v in (params or {}).items() if v is not None}
    target = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        if status >= 500 or not body:
            raise SidecarError(f"{target}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SidecarError(f"cannot reach the otelml sidecar at {target}: {reason}") from exc
    try:
        return status, json.loads(body)
    except ValueError as exc:
        raise SidecarError(f"{target}: the answer is not JSON ({exc})") from exc
