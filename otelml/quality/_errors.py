"""Errors a user of the data-quality gate can hit.

    QualityError(ValueError)        base; `otelml validate` exits 2 on any of them
    ├── ExpectationFileError        the expectations file is unreadable or invalid (file, line, key)
    └── DataFileError               the data file is missing, unreadable or empty (file)
"""

from __future__ import annotations

__all__ = ["DataFileError", "ExpectationFileError", "QualityError"]


class QualityError(ValueError):
    """Base of the data-quality gate's input errors."""


class ExpectationFileError(QualityError):
    """An expectations file is invalid. The message reads `FILE:LINE: KEY: problem`."""

    def __init__(self, path: str, problem: str, *, line: int | None = None, key: str | None = None):
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class DataFileError(QualityError):
    """The data to validate cannot be read."""
