"""One test per rule of the capture config: argument -> OTELML_* env -> default."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from otelml import _config
from otelml._config import OtelmlConfig, build_config, configure, get_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch):
    for var in _config._ENV.values():
        monkeypatch.delenv(var, raising=False)
    saved = _config._active
    yield
    _config._active = saved


def test_defaults_without_env() -> None:
    c = build_config()
    assert c.capture_features is True
    assert c.redact_features == c.hash_features == c.drop_features == frozenset()
    assert c.hash_salt == ""
    assert (c.max_batch_rows, c.max_attributes, c.max_string_length) == (100, 100, 256)
    assert c.log_predictions is False
    assert c.metrics is True


def test_env_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELML_CAPTURE_FEATURES", "false")
    monkeypatch.setenv("OTELML_REDACT_FEATURES", " ssn, email ,,")
    monkeypatch.setenv("OTELML_HASH_FEATURES", "user_id")
    monkeypatch.setenv("OTELML_DROP_FEATURES", "name")
    monkeypatch.setenv("OTELML_HASH_SALT", "pepper")
    monkeypatch.setenv("OTELML_MAX_BATCH_ROWS", "7")
    monkeypatch.setenv("OTELML_MAX_ATTRIBUTES", "3")
    monkeypatch.setenv("OTELML_MAX_STRING_LENGTH", "12")
    monkeypatch.setenv("OTELML_LOG_PREDICTIONS", "TRUE")
    monkeypatch.setenv("OTELML_METRICS", "0")
    c = build_config()
    assert c == OtelmlConfig(
        capture_features=False,
        redact_features=frozenset({"ssn", "email"}),
        hash_features=frozenset({"user_id"}),
        drop_features=frozenset({"name"}),
        hash_salt="pepper",
        max_batch_rows=7,
        max_attributes=3,
        max_string_length=12,
        log_predictions=True,
        metrics=False,
    )


def test_argument_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELML_MAX_BATCH_ROWS", "7")
    monkeypatch.setenv("OTELML_REDACT_FEATURES", "ssn")
    c = build_config(max_batch_rows=3, redact_features=["email"])
    assert c.max_batch_rows == 3
    assert c.redact_features == frozenset({"email"})


@pytest.mark.parametrize(
    ("var", "raw", "field"),
    [
        ("OTELML_MAX_BATCH_ROWS", "lots", "max_batch_rows"),
        ("OTELML_MAX_BATCH_ROWS", "0", "max_batch_rows"),
        ("OTELML_MAX_ATTRIBUTES", "-1", "max_attributes"),
        ("OTELML_MAX_STRING_LENGTH", "1.5", "max_string_length"),
        ("OTELML_CAPTURE_FEATURES", "maybe", "capture_features"),
        ("OTELML_METRICS", "enabled", "metrics"),
    ],
)
def test_unparsable_env_warns_and_uses_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, var: str, raw: str, field: str
) -> None:
    monkeypatch.setenv(var, raw)
    with caplog.at_level(logging.WARNING, logger="otelml"):
        c = build_config()
    assert getattr(c, field) == getattr(OtelmlConfig(), field)
    assert var in caplog.text
    assert repr(raw) in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_batch_rows": 0}, "max_batch_rows"),
        ({"max_attributes": -1}, "max_attributes"),
        ({"max_string_length": "10"}, "max_string_length"),
        ({"max_batch_rows": True}, "max_batch_rows"),
        ({"capture_features": "yes"}, "capture_features"),
        ({"redact_features": 5}, "redact_features"),
        ({"hash_features": [1, 2]}, "hash_features"),
        ({"hash_salt": b"x"}, "hash_salt"),
    ],
)
def test_impossible_argument_raises_naming_it(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        build_config(**kwargs)


def test_unknown_setting_is_a_type_error_listing_known_ones() -> None:
    with pytest.raises(TypeError, match=r"max_rows.*max_batch_rows"):
        build_config(max_rows=3)


def test_explicit_overlap_raises_naming_feature() -> None:
    with pytest.raises(ValueError, match=r"ssn.*drop_features.*redact_features"):
        build_config(drop_features="ssn", redact_features="ssn,email")


def test_env_overlap_warns_and_strictest_wins(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTELML_DROP_FEATURES", "ssn")
    monkeypatch.setenv("OTELML_HASH_FEATURES", "ssn,user")
    monkeypatch.setenv("OTELML_HASH_SALT", "s")
    with caplog.at_level(logging.WARNING, logger="otelml"):
        c = build_config()
    assert c.drop_features == frozenset({"ssn"})
    assert c.hash_features == frozenset({"user"})
    assert "OTELML_DROP_FEATURES" in caplog.text and "OTELML_HASH_FEATURES" in caplog.text


def test_hashing_without_salt_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otelml"):
        build_config(hash_features="user")
    assert "OTELML_HASH_SALT" in caplog.text


def test_config_is_frozen() -> None:
    c = build_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.max_batch_rows = 5  # type: ignore[misc]


def test_configure_replaces_active_config_and_rereads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    _config._active = None
    monkeypatch.setenv("OTELML_MAX_STRING_LENGTH", "40")
    assert get_config().max_string_length == 40
    first = configure(max_batch_rows=5)
    assert get_config() is first
    assert (first.max_batch_rows, first.max_string_length) == (5, 40)
    second = configure(capture_features=False)
    assert get_config() is second
    # configure() builds a whole new config: the earlier argument is not carried over.
    assert second.max_batch_rows == 100 and second.capture_features is False
