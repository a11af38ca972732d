"""The query commands through typer: readable tables, --json and --csv."""

from __future__ import annotations

import csv
import io
import json

import pytest
import typer
from runbuilder import RunBuilder
from typer.testing import CliRunner

from revtrace import output
from revtrace import sql_commands
from revtrace.query_commands import register

BITS = {"PG_locked": 0, "PG_dirty": 2, "PG_CLEAN": 3}
SIDE = {"seq", "thread", "core", "kind", "function", "file", "line"}


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    sql_commands.register(a)
    old = output.console.width
    output.console.width = 240  # no wrapping inside the tables' cells
    yield a
    output.console.width = old


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    b = RunBuilder(threads=["flusher", "rpciod"],
                   words={"page0.flags": 0, "req0.wb_flags": 0, "counter": 0, "lock": 0}, bits=BITS)
    b.read("flusher", "counter", site=("worker", 7))                 # 0
    b.read("rpciod", "counter", site=("worker", 7))                  # 1
    b.write("flusher", "counter", 1, site=("worker", 9))             # 2 races with 1
    b.write("rpciod", "counter", 1, site=("worker", 9))              # 3 races with 2
    b.set_bit("flusher", "page0.flags", 2, site=("mark_dirty", 3))   # 4
    b.set_bit("rpciod", "req0.wb_flags", 3, site=("write_done", 5))  # 5 opens a window
    b.clear_bit("flusher", "page0.flags", 2, site=("clear_dirty", 8))  # 6 closes it
    b.acquire("flusher", "lock", site=("worker", 20))                # 7, 8
    b.release("flusher", "lock", site=("worker", 21))                # 9, 10
    b.panic("rpciod", site=("bug_on", 99))                           # 11
    meta = {"invariants": [{"name": "consistent",
                            "expr": "not (page0.flags:PG_dirty and req0.wb_flags:PG_CLEAN)"}],
            "orderings": [{"name": "dirty before done", "before": "mark_dirty", "after": "write_done"}],
            "locksets": [{"name": "counter locked", "fields": "counter", "lock": "lock"}]}
    return b.save(tmp_path_factory.mktemp("cli") / "run", meta=meta)


def invoke(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.exit_code, result.output)
    return result


def flat(text: str) -> str:
    """Whitespace collapsed (rich wraps a title to its table's width)."""
    return " ".join(text.split())


def test_last_writer(app, run_path):
    out = flat(invoke(app, "last-writer", run_path, "page0.flags:PG_dirty").stdout)
    assert "last write to page0.flags:PG_dirty before the end of the run" in out
    assert "clear_dirty (clear_dirty.s:8)" in out and "-PG_dirty" in out and "flusher" in out
    data = json.loads(invoke(app, "last-writer", run_path, "page0.flags:PG_dirty", "--json").stdout)
    assert {"seq", "cycle", "machine", "core", "thread", "function", "file", "line", "symbol", "addr",
            "old", "new", "bits_changed"} <= set(data)
    assert (data["seq"], data["thread"], data["bits_changed"], data["bit_old"], data["bit_new"]) == \
        (6, "flusher", ["PG_dirty"], 1, 0)
    before = json.loads(invoke(app, "last-writer", run_path, "page0.flags", "--before", "6", "--json").stdout)
    assert before["seq"] == 4
    assert json.loads(invoke(app, "last-writer", run_path, "counter", "--before", "panic", "--json").stdout)["seq"] == 3
    assert json.loads(invoke(app, "last-writer", run_path, "counter", "--before", "2", "--json").stdout) is None
    assert "nothing wrote counter before seq 2" in flat(invoke(app, "last-writer", run_path, "counter", "--before", "2").stdout)


def test_history_and_value(app, run_path):
    out = flat(invoke(app, "history", run_path, "page0.flags").stdout)
    assert "writes to page0.flags (2)" in out and "+PG_dirty" in out and "-PG_dirty" in out
    rows = json.loads(invoke(app, "history", run_path, "page0.flags", "--json").stdout)
    assert [r["seq"] for r in rows] == [4, 6]
    assert [r["seq"] for r in json.loads(invoke(app, "history", run_path, "page0.flags", "--limit", "1", "--json").stdout)] == [4]
    v = json.loads(invoke(app, "value", run_path, "page0.flags", "--at", "5", "--json").stdout)
    assert (v["value"], v["written_by"]["seq"], v["bits_set"]) == (4, 4, ["PG_dirty"])
    out = invoke(app, "value", run_path, "page0.flags", "--at", "0").stdout
    assert "nobody: the initial value" in out


def test_races(app, run_path):
    out = flat(invoke(app, "races", run_path).stdout)
    assert "2 racing pairs at 2 site pairs" in out
    assert "read by rpciod on core 1" in out and "worker (worker.s:7)" in out and "seq 1" in out
    data = json.loads(invoke(app, "races", run_path, "--json").stdout)
    assert [(r["first"]["seq"], r["second"]["seq"], r["count"]) for r in data] == [(1, 2, 1), (2, 3, 1)]
    for r in data:
        assert r["symbol"] == "counter" and isinstance(r["addr"], int)
        assert SIDE <= set(r["first"]) and SIDE <= set(r["second"])


def test_windows(app, run_path):
    out = flat(invoke(app, "windows", run_path).stdout)
    assert "1 windows" in out and "consistent" in out and "write_done" in out
    data = json.loads(invoke(app, "windows", run_path, "--json").stdout)
    [w] = data
    assert {"invariant", "start_seq", "end_seq", "start_cycle", "end_cycle", "opened_by", "closed_by"} <= set(w)
    assert (w["start_seq"], w["end_seq"], w["opened_by"]["seq"], w["closed_by"]["seq"]) == (5, 6, 5, 6)
    assert json.loads(invoke(app, "windows", run_path, "--invariant", "consistent", "--json").stdout) == data


def test_hb(app, run_path):
    out = flat(invoke(app, "hb", run_path).stdout)
    assert "ordering 'dirty before done': mark_dirty before write_done: violated at 1 sites" in out
    assert "write_done (write_done.s:5)" in out
    assert "locksets" in out and "counter locked" in out
    data = json.loads(invoke(app, "hb", run_path, "--json").stdout)
    [o] = data["orderings"]
    assert not o["holds"] and o["violations"][0]["first"]["seq"] == 5
    [ls] = data["locksets"]
    assert not ls["holds"] and sum(v["count"] for v in ls["violations"]) == 4


def test_sql(app, run_path):
    q = "SELECT seq, thread, kind, symbol FROM ev WHERE kind IN ('write', 'rmw') ORDER BY seq"
    out = invoke(app, "sql", run_path, q).stdout
    assert "rows" in out and "page0.flags" in out
    rows = json.loads(invoke(app, "sql", run_path, q, "--json").stdout)
    assert rows[0] == {"seq": 2, "thread": "flusher", "kind": "write", "symbol": "counter"}
    text = invoke(app, "sql", run_path, q, "--csv").stdout
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["seq", "thread", "kind", "symbol"] and parsed[1] == ["2", "flusher", "write", "counter"]
    out = flat(invoke(app, "sql", run_path, "SELECT * FROM range(500)").stdout)
    assert "500 rows (first 200" in out
    assert json.loads(invoke(app, "sql", run_path, "SELECT 18446744073709551615::UBIGINT AS big", "--json").stdout) == \
        [{"big": 18446744073709551615}]


def test_json_stdout_stays_clean_on_first_build(app, tmp_path):
    b = RunBuilder(threads=["t0"], words={"x": 0})
    b.write("t0", "x", 1, site=("f", 1))
    path = b.save(tmp_path / "fresh")
    result = CliRunner().invoke(app, ["last-writer", str(path), "x", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["seq"] == 0
