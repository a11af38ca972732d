"""The export floor's one error type: a message and where (a run directory or an output path)."""

from __future__ import annotations


class ExportError(Exception):
    def __init__(self, message: str, location: str | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)
