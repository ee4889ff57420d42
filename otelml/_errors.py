"""Telemetry never breaks the host: otelml's own errors are caught and logged once per site."""

from __future__ import annotations

import logging
import threading

__all__ = ["log_once"]

_log = logging.getLogger("otelml")
_seen: set[str] = set()
_lock = threading.Lock()


def log_once(site: str, exc: BaseException) -> None:
    """Log ``exc`` with its traceback the first time ``site`` fails, at debug level afterwards."""
    with _lock:
        first = site not in _seen
        _seen.add(site)
    if first:
        _log.warning("otelml: %s failed; telemetry for this call is incomplete (further failures here are "
                     "logged at debug level): %r", site, exc, exc_info=exc)
    else:
        _log.debug("otelml: %s failed again: %r", site, exc)
