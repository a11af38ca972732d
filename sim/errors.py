"""The simulator floor's one exception type: every bad scenario, source or option raises it."""

from __future__ import annotations


class SimError(Exception):
    """A user-facing error with a location: `file:line:col: message` (or just the message)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 col: int | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        parts = [str(self.file)]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message


class AsmError(SimError):
    """Malformed assembly source."""


class ScenarioError(SimError):
    """Malformed scenario TOML or options that do not fit the scenario."""


class LitmusError(SimError):
    """A litmus test that cannot be read, or uses a construct the simulator cannot express."""
