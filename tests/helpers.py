"""Helpers every test folder may import (`from helpers import refused, ok`): tests/conftest.py
puts this folder on sys.path.

The CLI contract for bad input: exit code 2, exactly one non-empty line on stderr starting
`revtrace: error:`, nothing on stdout, never a traceback.
"""

from __future__ import annotations

from typer.testing import CliRunner, Result

_runner = CliRunner()


def invoke(*args, app=None) -> Result:
    """Run the revtrace command line (or `app`) with `args` (any objects: they are str()-ed)."""
    if app is None:
        from revtrace.cli import app
    return _runner.invoke(app, [str(a) for a in args])


def error_line(res: Result, code: int = 2) -> str:
    """The one line of a refused command, asserting the whole contract (exit `code`, no traceback,
    one line on stderr, nothing on stdout)."""
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert res.stdout.strip() == ""
    return lines[0]


def refused(res: Result, *fragments: str) -> str:
    """error_line for bad input: exit code 2, `revtrace: error: ...` containing every fragment."""
    line = error_line(res)
    assert line.startswith("revtrace: error: "), line
    for f in fragments:
        assert f in line, (f, line)
    return line


def ok(res: Result) -> Result:
    assert res.exit_code == 0, (res.output, res.exception)
    assert res.exception is None
    return res


def panicking_seeds(cores: int = 2, seeds=range(200), want: int = 1, **options) -> list[int]:
    """Seeds of nfs_vmxmon (v2) that hit the BUG_ON, found by plain runs: the scenario's sources may
    be tuned by others, so no seed is hard-coded; none in the range is a failure, never a skip."""
    from sim.scenario import RunOptions, load_scenario
    from sim.system import System

    sc = load_scenario("nfs_vmxmon")
    found = []
    for seed in seeds:
        if System(sc, RunOptions(cores=cores, seed=seed, **options)).run().outcome == "panic":
            found.append(seed)
            if len(found) == want:
                return found
    raise AssertionError(f"only {len(found)} of the wanted {want} seeds of nfs_vmxmon in {seeds} panic "
                         f"on {cores} cores")
