"""Start-up stays fast: the command line imports DuckDB, pyarrow and numpy only in the commands that
open a run (bench/bench_startup.py measures the seconds; this keeps the imports from creeping back)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("duckdb", "pyarrow", "numpy", "pandas", "polars")

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def loaded(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_package():
    assert loaded("import revtrace.cli") == []


def test_help_loads_no_heavy_package():
    body = """
import contextlib, io
from revtrace.cli import app
with contextlib.redirect_stdout(io.StringIO()):
    try:
        app(["--help"])
    except SystemExit:
        pass
    try:
        app(["last-writer", "--help"])
    except SystemExit:
        pass
"""
    assert loaded(body) == []


def test_a_query_command_does_load_them(tmp_path):
    """The probe can see an import: a command that opens a run does load DuckDB."""
    body = f"""
import contextlib, io
from revtrace.cli import app
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        app(["last-writer", {str(tmp_path)!r}, "counter"])
    except SystemExit:
        pass
"""
    assert "duckdb" in loaded(body)
