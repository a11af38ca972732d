"""Fixtures for the query floor's tests: run directories on a RAM disk when there is one."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runbuilder import RunBuilder

_SHM = Path("/dev/shm")


@pytest.fixture
def rundir(tmp_path):
    """A fresh folder for run directories (under /dev/shm when available: DuckDB's fsyncs on a
    real disk cost more than the test itself)."""
    if _SHM.is_dir() and os.access(_SHM, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="revtrace-q-", dir=_SHM))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


@pytest.fixture
def builder():
    return RunBuilder
