"""`bearertokenauth`: servers whose `auth.authenticator` names it accept only requests carrying
`Authorization: Bearer <token>` (the Collector's extension of that name, server side).

    extensions:
      bearertokenauth:
        token: ${env:OTELML_TOKEN}      # or filename: /run/secrets/otelml_token
    service:
      extensions: [bearertokenauth]

The token is compared in constant time (`hmac.compare_digest`) and never logged or printed: the
config's repr hides it. With `filename`, the file is read at start (surrounding whitespace removed).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from otelml_collector import registry
from otelml_collector.component import ComponentConfig, ComponentContext
from otelml_collector.configutil import from_mapping

__all__ = ["BearerTokenAuth", "BearerTokenAuthConfig", "BearerTokenAuthFactory"]


@dataclass
class BearerTokenAuthConfig(ComponentConfig):
    token: str = field(default="", repr=False)
    filename: str = ""
    scheme: str = "Bearer"

    def validate(self) -> None:
        if bool(self.token) == bool(self.filename):
            raise ValueError(
                "token: set exactly one of token (e.g. ${env:OTELML_TOKEN}) or filename"
                if not self.token
                else "filename: set either token or filename, not both"
            )
        if self.filename:
            self.read_token()
        elif self.token != self.token.strip() or any(c in self.token for c in "\r\n"):
            raise ValueError("token: must not contain whitespace at its ends or line breaks")
        if not self.scheme or " " in self.scheme:
            raise ValueError(f"scheme: expected one word such as Bearer, got {self.scheme!r}")

    def read_token(self) -> str:
        try:
            token = Path(self.filename).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"filename: cannot read the token from {self.filename}: {exc}") from None
        if not token:
            raise ValueError(f"filename: {self.filename} is empty")
        return token


class BearerTokenAuth:
    """A `ServerAuthenticator`: `authenticate(headers)` is True for `Authorization: <scheme> <token>`."""

    def __init__(self, config: BearerTokenAuthConfig) -> None:
        self._scheme = config.scheme.lower()
        self._expected = (config.read_token() if config.filename else config.token).encode("utf-8")

    def start(self) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        # Compare even when the scheme is wrong, so timing tells nothing about which part failed.
        matches = hmac.compare_digest(token.strip().encode("utf-8", "replace"), self._expected)
        return matches and scheme.lower() == self._scheme

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=<hidden>)"


class BearerTokenAuthFactory:
    type: ClassVar[str] = "bearertokenauth"
    kind: ClassVar[str] = "extension"
    server_authenticator: ClassVar[bool] = True

    def default_config(self) -> BearerTokenAuthConfig:
        return BearerTokenAuthConfig()

    def config_from_dict(self, raw: dict[str, Any]) -> BearerTokenAuthConfig:
        return from_mapping(BearerTokenAuthConfig, raw)

    def create(self, config: ComponentConfig, ctx: ComponentContext) -> BearerTokenAuth:
        assert isinstance(config, BearerTokenAuthConfig)
        return BearerTokenAuth(config)


registry.register(BearerTokenAuthFactory())
