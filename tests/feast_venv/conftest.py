"""The fixtures of tests/integrations, for the Feast tests run in their own environment."""

from __future__ import annotations

from tests.integrations.conftest import _fresh_error_log, exporter, instrument  # noqa: F401
