"""Helpers shared by every test folder (no folder under tests/ is a package, so shared code lives
here and is reached through fixtures, or in tests/helpers.py, importable as `helpers`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import ipc

sys.path.insert(0, str(Path(__file__).parent))

from helpers import panicking_seeds  # noqa: E402


def message_spans(path: Path) -> list[tuple[str, int, int]]:
    """(message type, start offset, end offset) of every IPC message in an Arrow stream file."""
    src = pa.BufferReader(Path(path).read_bytes())
    spans = []
    while True:
        pos = src.tell()
        try:
            msg = ipc.read_message(src)
        except EOFError:
            return spans
        spans.append((msg.type, pos, src.tell()))


@pytest.fixture(scope="session")
def arrow_messages():
    """`message_spans`, for tests that cut or patch stream files at message boundaries."""
    return message_spans


@pytest.fixture(scope="session")
def nfs_seed() -> int:
    """The first seed on which nfs_vmxmon v2 on two cores hits the BUG_ON (found, not hard-coded)."""
    return panicking_seeds()[0]


@pytest.fixture()
def wide_console():
    """revtrace's console 300 columns wide, so that tables never wrap a cell in a test."""
    from revtrace import output

    old = output.console.width
    output.console.width = 300
    yield output.console
    output.console.width = old
