"""Bad input: one clear line (a QueryError; exit code 2 from the CLI), never a traceback."""

from __future__ import annotations

import json

import pytest
import typer
from runbuilder import RunBuilder
from helpers import invoke, refused

import queries
from queries import QueryError
from revtrace import sql_commands
from revtrace.query_commands import register

BITS = {"PG_locked": 0, "PG_dirty": 2}


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    sql_commands.register(a)
    return a


@pytest.fixture
def run_path(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"page0.flags": 0, "page1.flags": 0, "counter": 0},
                   bits=BITS, symbols=[{"addr": 0x200, "name": "buf", "object": "buf", "field": "",
                                        "size": 4, "machine": "host", "initial": 0}])
    b.write("t0", "counter", 1, site=("w", 1))
    b.set_bit("t1", "page0.flags", 2, site=("w", 2))
    b.read("t0", "counter", site=("w", 3))
    meta = {"invariants": [{"name": "dirty_ok", "expr": "not page0.flags:PG_dirty"},
                           {"name": "typo", "expr": "page0.flgs == 0"}],
            "orderings": [{"name": "bad", "before": "nosuchfn", "after": "w"}]}
    return b.save(rundir / "r", meta=meta)


def _cli_error(app, args) -> str:
    return refused(invoke(*args, app=app))


@pytest.mark.parametrize("target, expect", [
    ("page0.flag", "unknown symbol 'page0.flag'; did you mean page0.flags, page1.flags"),
    ("countr", "did you mean counter"),
    ("page0.flags:PG_dirt", "unknown bit 'PG_dirt'; did you mean PG_dirty"),
    ("page0.flags:99", "bit 99 is out of range 0..63"),
    ("page0.flags:", "nothing after ':'"),
    ("buf", "'buf' covers 4 words; name one of them, e.g. buf[0] .. buf[3]"),
    ("", "empty target"),
])
def test_unknown_targets(app, run_path, target, expect):
    with queries.open_run(run_path) as run, pytest.raises(QueryError, match=None) as err:
        run.last_writer(target)
    assert expect in str(err.value)
    assert expect in _cli_error(app, ["last-writer", run_path, target])


def test_untouched_address_is_an_empty_answer(app, run_path):
    with queries.open_run(run_path) as run:
        assert run.last_writer("0x7777") is None
        assert run.history("0x7777") == []
        assert run.value("0x7777", at=1)["value"] == 0
        assert run.last_writer("buf[2]") is None  # a named word nobody wrote
    result = invoke("last-writer", run_path, "0x7777", "--json", app=app)
    assert result.exit_code == 0 and json.loads(result.stdout) is None
    result = invoke("last-writer", run_path, "0x7777", app=app)
    assert result.exit_code == 0 and "nothing wrote 0x7777" in result.stdout


@pytest.mark.parametrize("args, expect", [
    (["last-writer", "{run}", "counter", "--before", "4"], "--before 4 is out of range: this run's events are 0..2"),
    (["last-writer", "{run}", "counter", "--before", "-1"], "out of range"),
    (["last-writer", "{run}", "counter", "--before", "soon"], "takes a seq (a number), 'panic' or 'end'"),
    (["last-writer", "{run}", "counter", "--before", "panic"], "the run did not panic (outcome: completed)"),
    (["value", "{run}", "counter", "--at", "99"], "--at 99 is out of range"),
])
def test_seq_out_of_range(app, run_path, args, expect):
    assert expect in _cli_error(app, [a.replace("{run}", str(run_path)) for a in args])


@pytest.mark.parametrize("sql, expect", [
    ("SELEC 1", "Parser Error: syntax error at or near \"SELEC\""),
    ("SELECT nope FROM events", "Binder Error"),
    ("SELECT * FROM nosuchtable", "Catalog Error"),
    ("DELETE FROM symbols", "read-only"),
    ("  ", "empty SQL statement"),
])
def test_sql_errors(app, run_path, sql, expect):
    assert expect in _cli_error(app, ["sql", run_path, sql])


def test_not_a_run(app, rundir):
    (rundir / "empty").mkdir()
    (rundir / "file").write_text("x")
    (rundir / "nometa" / "events").mkdir(parents=True)
    (rundir / "noevents").mkdir()
    (rundir / "noevents" / "meta.json").write_text("{}")
    (rundir / "badmeta" / "events").mkdir(parents=True)
    (rundir / "badmeta" / "meta.json").write_text("{oops")
    for name, expect in [("missing", "no such run directory"), ("empty", "not a run directory (no meta.json)"),
                         ("file", "not a run directory"), ("nometa", "no meta.json"),
                         ("noevents", "no events/ folder"), ("badmeta", "meta.json is not valid JSON")]:
        err = _cli_error(app, ["races", rundir / name])
        assert expect in err and str(rundir / name) in err


def test_newer_schema_is_refused(app, run_path):
    meta = json.loads((run_path / "meta.json").read_text())
    meta["schema_version"] = 99
    (run_path / "meta.json").write_text(json.dumps(meta))
    assert "recorded with schema version 99" in _cli_error(app, ["races", run_path])


def test_invariant_and_selector_errors(app, run_path):
    assert "unknown invariant 'dirty'; did you mean dirty_ok" in _cli_error(
        app, ["windows", run_path, "--invariant", "dirty"])
    err = _cli_error(app, ["windows", run_path, "--invariant", "typo"])
    assert "invariant 'typo': unknown symbol 'page0.flgs'; did you mean page0.flags" in err
    err = _cli_error(app, ["hb", run_path])
    assert "ordering 'bad': unknown function or label 'nosuchfn'" in err


def test_sql_json_and_csv_are_exclusive(app, run_path):
    assert "choose one of --json and --csv" in _cli_error(app, ["sql", run_path, "SELECT 1", "--json", "--csv"])
