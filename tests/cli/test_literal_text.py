"""User text in every table is printed literally: `st [counter], r2` is an instruction, not rich
markup (a bracketed word used to vanish from sql, replay and diff tables)."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

import tracer
from revtrace import output
from revtrace.cli import app

TOML = """
name = "two_locks"
preemption = "voluntary"
[machines.host]
cores = 2
sources = ["lock.s"]
[[threads]]
name = "t0"
entry = "worker"
[[threads]]
name = "t1"
entry = "worker"
[variants.data]
"lock.s" = "lock_data.s"
"""

SOURCE = """
.word thisLock, 0
.word dataLock, 0
.word counter, 0
worker:
    spin_lock [{lock}]
    ld r2, [counter]
    add r2, 1
    st [counter], r2
    spin_unlock [{lock}]
    halt
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("literal")
    (d / "scenario.toml").write_text(TOML)
    (d / "lock.s").write_text(textwrap.dedent(SOURCE.format(lock="thisLock")))
    (d / "lock_data.s").write_text(textwrap.dedent(SOURCE.format(lock="dataLock")))
    a = tracer.record(d, d / "a", seed=1).path
    b = tracer.record(d, d / "b", seed=1, variant="data").path
    return a, b


@pytest.fixture()
def wide(wide_console):
    return wide_console


def out(*args) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, (res.output, res.exception)
    return res.stdout


def test_sql_table_keeps_brackets(runs, wide):
    text = out("sql", runs[0], "SELECT line, text FROM sites ORDER BY line")
    assert "st [counter], r2" in text
    assert "spin_lock [thisLock]" in text
    assert "ld r2, [counter]" in text


def test_sql_table_keeps_markup_like_strings(runs, wide):
    text = out("sql", runs[0], "SELECT '[bold]x[/bold]' AS s, '[red]' AS t")
    assert "[bold]x[/bold]" in text and "[red]" in text


def test_replay_instruction_column_keeps_brackets(runs, wide):
    text = out("replay", runs[0], "--to", "0")
    assert "[thisLock]" in text or "[counter]" in text, text


def test_diff_code_table_shows_the_changed_lock(runs, wide):
    text = out("diff", runs[0], runs[1])
    assert "spin_lock [thisLock]" in text
    assert "spin_lock [dataLock]" in text


def test_fields_table_keeps_brackets(wide, capsys):
    output.print_fields("[title]", [("[name]", "st [counter], r2")])
    text = capsys.readouterr().out
    assert "[title]" in text and "[name]" in text and "st [counter], r2" in text
