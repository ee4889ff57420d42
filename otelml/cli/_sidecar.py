"""Reading the sidecar's HTTP API from the CLI: base URL, credentials and one JSON GET.

`--url` / `$OTELML_SIDECAR_URL` (https:// when the sidecar serves TLS), `--token` /
`$OTELML_SIDECAR_TOKEN` (sent as `Authorization: Bearer <token>` when the sidecar's `service.http.auth`
is set) and `--cacert` / `$OTELML_SIDECAR_CA` (PEM CA to verify the sidecar's certificate with).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_URL",
    "ENV_CA",
    "ENV_TOKEN",
    "ENV_URL",
    "SidecarEndpoint",
    "SidecarError",
    "add_url_argument",
    "get_json",
    "sidecar",
    "sidecar_url",
]

DEFAULT_URL = "http://127.0.0.1:8890"
ENV_URL = "OTELML_SIDECAR_URL"
ENV_TOKEN = "OTELML_SIDECAR_TOKEN"
ENV_CA = "OTELML_SIDECAR_CA"


@dataclass(frozen=True)
class SidecarEndpoint:
    """Where the sidecar's API is and how to authenticate; prints as its URL (the token never shows)."""

    url: str
    token: str | None = field(default=None, repr=False)
    cacert: str | None = None

    def __str__(self) -> str:
        return self.url


class SidecarError(Exception):
    """The sidecar could not be reached or answered something that is not JSON (message names the URL)."""


def add_url_argument(parser: Any) -> None:
    parser.add_argument(
        "--url", default=None, help=f"sidecar HTTP API base URL (default: ${ENV_URL} or {DEFAULT_URL})"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the sidecar (default 10)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token of the sidecar's API (default: ${ENV_TOKEN}; prefer the variable: "
        "command lines are visible to other local users)",
    )
    parser.add_argument(
        "--cacert", default=None, help=f"PEM CA file to verify an https:// sidecar with (default: ${ENV_CA})"
    )


def sidecar_url(explicit: str | None) -> str:
    return (explicit or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")


def sidecar(args: Any) -> SidecarEndpoint:
    """The endpoint from the `add_url_argument` flags, falling back to the environment."""
    return SidecarEndpoint(
        sidecar_url(getattr(args, "url", None)),
        getattr(args, "token", None) or os.environ.get(ENV_TOKEN) or None,
        getattr(args, "cacert", None) or os.environ.get(ENV_CA) or None,
    )


def get_json(
    base: str | SidecarEndpoint, path: str, params: dict[str, Any] | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON) of `GET base+path?params`; 4xx answers are returned, not raised.
    A plain URL takes its token and CA from the environment."""
    if isinstance(base, SidecarEndpoint):
        endpoint = base
    else:
        endpoint = SidecarEndpoint(base.rstrip("/"), os.environ.get(ENV_TOKEN), os.environ.get(ENV_CA))
    query = {k: v for k, v in (params or {}).items() if v is not None}
    target = endpoint.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(target)
    if endpoint.token:
        request.add_header("Authorization", f"Bearer {endpoint.token}")
    try:
        context = ssl.create_default_context(cafile=endpoint.cacert) if endpoint.cacert else None
    except (OSError, ssl.SSLError) as exc:
        raise SidecarError(f"cannot use the CA file {endpoint.cacert}: {exc}") from exc
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        if status == 401:
            how = "the token was refused" if endpoint.token else f"set ${ENV_TOKEN} or pass --token"
            raise SidecarError(f"{target}: HTTP 401: the sidecar requires a bearer token ({how})") from exc
        if status >= 500 or not body:
            raise SidecarError(f"{target}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SidecarError(f"cannot reach the otelml sidecar at {target}: {reason}") from exc
    try:
        return status, json.loads(body)
    except ValueError as exc:
        raise SidecarError(f"{target}: the answer is not JSON ({exc})") from exc
