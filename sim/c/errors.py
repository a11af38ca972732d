"""The C front-end's exception: malformed C, a refused construct or a type error, with file:line:col."""

from __future__ import annotations

from ..errors import SimError


class CError(SimError):
    """One line, `file:line:col: what was expected`; the CLI prints it and exits 2."""


def at(coord, message: str) -> CError:
    """A CError at a pycparser Coord (or None)."""
    if coord is None:
        return CError(message)
    return CError(message, coord.file, coord.line, coord.column or None)
