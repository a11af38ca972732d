"""Helpers of the reliability tests (imported by name: tests/ folders are not packages)."""

from __future__ import annotations


def refusal(res) -> str:
    """The one line of a refused command: exit 2, one line on stderr, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("revtrace: error: "), lines[0]
    return lines[0]
