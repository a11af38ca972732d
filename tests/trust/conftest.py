"""Fixtures for the reliability tests (issue "trust the recording"): small real recordings, and a
runner that checks the one-line error contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace import output
from revtrace.cli import app

_runner = CliRunner()


def invoke(*args):
    return _runner.invoke(app, [str(a) for a in args])


def refusal(res) -> str:
    """The one line of a refused command: exit 2, one line on stderr, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("revtrace: error: "), lines[0]
    return lines[0]


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
    res = invoke("record", "race_counter", "--seed", "3", "--out", path)
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture
def fresh_run(recorded, tmp_path) -> Path:
    """A private copy of the recording, to damage."""
    dst = tmp_path / "run"
    shutil.copytree(recorded, dst)
    return dst
