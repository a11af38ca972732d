"""The query floor's one exception type: every bad run directory, target, seq or SQL raises it."""

from __future__ import annotations


class QueryError(Exception):
    """A user-facing error: `location: message` (location is a run path, a seq, an invariant ...)."""

    def __init__(self, message: str, location: str | None = None):
        self.message = message
        self.location = location
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class QueryWarning(UserWarning):
    """Something odd but survivable about a run (a truncated part file, a gap in seq)."""
