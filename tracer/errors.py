"""The recording floor's exception types: bad run directories, unwritable output, divergences."""

from __future__ import annotations


class TraceError(Exception):
    """A user-facing error carrying where it happened (a run directory, a file, a seq)."""

    def __init__(self, message: str, location: str | None = None):
        self.message = message
        self.location = location
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class Divergence(TraceError):
    """Re-execution produced an event that differs from the recording."""

    def __init__(self, seq: int, recorded: dict, replayed: dict, location: str | None = None):
        self.seq = seq
        self.recorded = recorded
        self.replayed = replayed
        diff = ", ".join(f"{k}: recorded {recorded.get(k)!r}, replayed {replayed.get(k)!r}"
                         for k in recorded if recorded.get(k) != replayed.get(k))
        super().__init__(f"replay diverged at seq {seq}: {diff}", location)
