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


def first_line(err: BaseException) -> str:
    """An exception's first non-blank line (at most 200 characters), for a one-line error."""
    lines = [s.strip() for s in str(err).strip().splitlines() if s.strip()]
    return lines[0][:200] if lines else type(err).__name__
