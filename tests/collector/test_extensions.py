# ruff: noqa: E501 - one case per line in the parametrize table
"""The `extensions:` section, `service.extensions` and `bearertokenauth` (config errors name the key;
the token is compared in constant time and never shown)."""

from __future__ import annotations

import pytest
from otelml_collector.config import ConfigError, parse_config
from otelml_collector.extensions.bearertokenauth import BearerTokenAuth, BearerTokenAuthConfig

BASE = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", auth: {authenticator: bearertokenauth}}
exporters:
  otlp: {endpoint: "http://127.0.0.1:1"}
"""


def parse(extra: str) -> object:
    return parse_config(BASE + extra, "sidecar.yaml")


def test_enabled_extensions_are_built_in_service_order(monkeypatch):
    monkeypatch.setenv("OTELML_TOKEN", "t0ken-value")
    config = parse(
        "extensions:\n  bearertokenauth: {token: '${env:OTELML_TOKEN}'}\n  bearertokenauth/unused: {token: x}\n"
        "service:\n  extensions: [bearertokenauth]\n"
    )
    assert list(config.extensions) == ["bearertokenauth"]  # defined but not listed: not started
    assert "t0ken-value" not in repr(config.extensions["bearertokenauth"].config)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("service:\n  extensions: [bearertokenauth]\n", "service.extensions[0]: extension 'bearertokenauth' is not defined"),
        ("extensions:\n  bearertokenauth: {token: x}\n", "receivers.otlp.protocols.grpc.auth.authenticator: 'bearertokenauth' is not an extension listed in service.extensions"),
        ("extensions:\n  bearertokenauth: {token: x}\nservice:\n  extensions: [bearertokenauth, bearertokenauth]\n", "lists 'bearertokenauth' twice"),
        ("extensions:\n  bearertokenauth: {}\nservice:\n  extensions: [bearertokenauth]\n", "extensions.bearertokenauth.token: set exactly one of token"),
        ("extensions:\n  nosuch: {}\n", "extensions.nosuch: unknown extension type 'nosuch'"),
        ("extensions:\n  bearertokenauth: {filename: /nonexistent/token}\nservice:\n  extensions: [bearertokenauth]\n", "cannot read the token from /nonexistent/token"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key(extra, message):
    with pytest.raises(ConfigError) as err:
        parse(extra)
    assert str(err.value).startswith("sidecar.yaml: ") and message in str(err.value)


def test_bearer_token_rules(tmp_path):
    auth = BearerTokenAuth(BearerTokenAuthConfig(token="abc123"))
    assert auth.authenticate({"authorization": "Bearer abc123"})
    assert auth.authenticate({"authorization": "bearer abc123"})  # the scheme is case-insensitive (RFC 7235)
    for value in ("Bearer abc1234", "Bearer abc12", "Basic abc123", "abc123", "Bearer", ""):
        assert not auth.authenticate({"authorization": value}), value
    assert not auth.authenticate({})
    assert "abc123" not in repr(auth)
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    config = BearerTokenAuthConfig(filename=str(secret))
    config.validate()
    assert BearerTokenAuth(config).authenticate({"authorization": "Bearer from-a-file"})
