"""Fixtures for the reliability tests (issue "trust the recording"): small real recordings, and a
runner that checks the one-line error contract."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace import output
from revtrace.cli import app

sys.path.insert(0, str(Path(__file__).parent))  # trusthelp (a name no other folder uses)

_runner = CliRunner()


def invoke(*args):
    return _runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def cli():
    old = output.console.width
    output.console.width = 240
    yield invoke
    output.console.width = old


@pytest.fixture(scope="session")
def recorded(tmp_path_factory) -> Path:
    """A small recording of race_counter (never modified: copy it with `fresh_run`)."""
    path = tmp_path_factory.mktemp("trust") / "run"
    res = invoke("record", "race_counter_asm", "--seed", "3", "--out", path)
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture
def fresh_run(recorded, tmp_path) -> Path:
    """A private copy of the recording, to damage."""
    dst = tmp_path / "run"
    shutil.copytree(recorded, dst)
    return dst
