"""The index's life: built once, reused, rebuilt when stale; truncated and odd recordings."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from runbuilder import RunBuilder, write_stream

import queries
from queries import QueryWarning
from queries.index import INDEX_FILE
from tracer import schema as S


def _trace(n: int = 40) -> RunBuilder:
    b = RunBuilder(threads=["t0", "t1"], words={"x": 0, "lock": 0})
    for i in range(n):
        t = ("t0", "t1")[i % 2]
        if i % 5 == 0:
            b.acquire(t, "lock", site=("f", 1))
            b.write(t, "x", i, site=("f", 2))
            b.release(t, "lock", site=("f", 3))
        else:
            b.read(t, "x", site=("f", 4))
    return b


def _bump(path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


def test_built_once_then_reused(rundir):
    path = _trace().save(rundir / "r")
    with queries.open_run(path) as run:
        assert run.index.built and run.events == len(_trace().events)
        first = run.last_writer("x")
    with queries.open_run(path) as run:
        assert not run.index.built and run.last_writer("x") == first
    assert (path / INDEX_FILE).is_file() and len(list((path / "index").iterdir())) == 4  # accesses, other, vclocks, checksums
    assert not list(path.glob(".index-build-*"))


def test_rebuilt_when_meta_changes(rundir):
    path = _trace().save(rundir / "r", meta={"outcome": "recording", "truncated": True})
    queries.open_run(path).close()
    meta = json.loads((path / "meta.json").read_text())
    meta.update(outcome="completed", truncated=False)
    (path / "meta.json").write_text(json.dumps(meta))
    with queries.open_run(path) as run:
        assert run.index.built and run.meta["outcome"] == "completed"
        assert json.loads(run.sql("SELECT value FROM meta WHERE key = 'outcome'").to_pylist()[0]["value"]) == "completed"


def test_rebuilt_when_a_part_is_newer_or_added(rundir):
    b = _trace()
    path = b.save(rundir / "r", part_rows=50)
    with queries.open_run(path) as run:
        n = run.events
    parts = sorted((path / "events").iterdir())
    _bump(parts[-1])
    with queries.open_run(path) as run:
        assert run.index.built and run.events == n
    # a recording that went on: more events in a new part
    extra = b.events_table().slice(0, 3)
    extra = extra.set_column(0, S.EVENTS.field("seq"), pa.array(range(n, n + 3), pa.int64()))
    write_stream(path / "events" / S.PART_PATTERN.format(len(parts)), extra, S.EVENTS)
    with queries.open_run(path) as run:
        assert run.index.built and run.events == n + 3 and run.end == n + 3


def test_rebuilt_from_an_older_index(rundir):
    path = _trace().save(rundir / "r")
    queries.open_run(path).close()
    con = duckdb.connect(str(path / INDEX_FILE))
    con.execute("UPDATE index_info SET value = '0' WHERE key IN ('schema_version', 'index_format')")
    con.close()
    _bump(path / INDEX_FILE)
    with queries.open_run(path) as run:
        assert run.index.built and run.last_writer("x") is not None
    # not even a DuckDB file
    (path / INDEX_FILE).write_bytes(b"this is not a database")
    _bump(path / INDEX_FILE)
    with queries.open_run(path) as run:
        assert run.index.built and [r["symbol"] for r in run.races()] == ["x"]  # unlocked reads race
    # the data files went missing
    for f in (path / "index").iterdir():
        f.unlink()
    with queries.open_run(path) as run:
        assert run.index.built and run.last_writer("x") is not None


def test_truncated_recording(rundir):
    b = _trace(60)
    path = b.save(rundir / "r", part_rows=40, batch_rows=10)
    last = max((path / "events").iterdir())
    data = last.read_bytes()
    last.write_bytes(data[: len(data) - 100])  # SIGKILL in the middle of a batch
    (path / "vclocks" / "part-00001.arrows").write_bytes(b"\xff\xff")  # garbage
    with pytest.warns(QueryWarning) as caught:
        run = queries.open_run(path)
    with run:
        msgs = " ".join(str(w.message) for w in caught)
        assert "truncated after" in msgs and "kept the" in msgs and "unreadable stream" in msgs
        assert 40 < run.events < len(b.events) and run.end == run.events
        assert run.warnings  # kept in the index for later readers
        assert run.sql("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == run.events
    with queries.open_run(path) as again:  # reused, warnings remembered, no new warning
        assert not again.index.built and again.warnings == run.warnings


def test_empty_recording(rundir):
    b = RunBuilder(threads=["t0"], words={"x": 5})
    path = b.save(rundir / "r")
    with queries.open_run(path) as run:
        assert run.events == 0 and run.races() == [] and run.last_writer("x") is None
        assert run.value("x", at=0)["value"] == 5 and run.history("x") == []
        assert run.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]


def test_kind_dictionary_in_another_order(rundir):
    b = _trace(10)
    path = b.save(rundir / "r")
    table = b.events_table()
    names = list(reversed(S.KIND_NAMES))
    kinds = [S.KIND_NAMES[i] for i in table.column("kind").combine_chunks().indices.to_pylist()]
    other = pa.DictionaryArray.from_arrays(pa.array([names.index(k) for k in kinds], pa.int8()),
                                           pa.array(names, pa.string()))
    write_stream(path / "events" / "part-00000.arrows", table.set_column(6, S.EVENTS.field("kind"), other),
                 S.EVENTS)
    with queries.open_run(path) as run:
        got = run.sql("SELECT seq, kind FROM events ORDER BY seq").to_pylist()
    assert [g["kind"] for g in got] == kinds


def test_gap_in_seq_is_reported(rundir):
    b = _trace(10)
    path = b.save(rundir / "r")
    table = b.events_table()
    table = table.set_column(0, S.EVENTS.field("seq"),
                             pa.array([s + (5 if s > 3 else 0) for s in range(table.num_rows)], pa.int64()))
    write_stream(path / "events" / "part-00000.arrows", table, S.EVENTS)
    with pytest.warns(QueryWarning, match="not dense"):
        queries.open_run(path).close()


def test_progress_bar_goes_to_stderr(rundir, capsys):
    path = _trace().save(rundir / "r")
    queries.open_run(path, progress=True).close()
    out = capsys.readouterr()
    assert out.out == "" and "indexing" in out.err


def test_views_answer(rundir):
    b = RunBuilder(threads=["p", "c"], words={"data": 0, "lock": 0, "f.flags": 0}, bits={"B": 1})
    b.acquire("p", "lock", site=("prod", 1))
    b.write("p", "data", 5, site=("prod", 2))
    b.set_bit("p", "f.flags", 1, site=("prod", 3))
    b.release("p", "lock", site=("prod", 4))
    m = b.send("p", site=("prod", 5))
    b.recv("c", m, site=("cons", 1))
    b.wake("p", "c", site=("prod", 7))
    b.sleep("c", site=("cons", 2))
    with queries.open_run(b.save(rundir / "r")) as run:
        q = lambda s: run.sql(s).to_pylist()
        assert q("SELECT thread, kind, symbol, function, line FROM ev WHERE seq = 2") == [
            {"thread": "p", "kind": "write", "symbol": "data", "function": "prod", "line": 2}]
        assert q("SELECT kind, lock FROM lock_ops ORDER BY seq") == [
            {"kind": "acquire", "lock": "lock"}, {"kind": "release", "lock": "lock"}]
        assert q("SELECT symbol, bit_name, old_bit, new_bit FROM bit_changes") == [
            {"symbol": "f.flags", "bit_name": "B", "old_bit": 0, "new_bit": 1}]
        assert q("SELECT sender, receiver FROM messages") == [{"sender": "p", "receiver": "c"}]
        assert sorted(r["via"] for r in q("SELECT via FROM sync_edges")) == ["message", "wake"]
        assert q("SELECT sync_name FROM events_named WHERE kind = 'wake'") == [{"sync_name": "c"}]
        assert q("SELECT count(*) AS n FROM writes") == [{"n": 4}]
        assert q("SELECT thread, count(*) AS n FROM schedule GROUP BY ALL ORDER BY 1") == [
            {"thread": "c", "n": 1}, {"thread": "p", "n": 1}]


def test_concurrent_openers_build_once(rundir):
    """Two processes opening a fresh run at once: one builds, the other waits and reuses it."""
    import subprocess
    import sys
    path = _trace(400).save(rundir / "r")
    go = rundir / "go"
    script = (
        "import sys, time, pathlib, queries\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "with queries.open_run(sys.argv[1]) as run:\n"
        "    print(int(run.index.built), run.events, run.last_writer('x')['seq'])\n")
    root = str(Path(__file__).resolve().parents[2])
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(go)], cwd=root,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    go.write_text("")
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outs) == ["0", "1"]  # exactly one of them built it
    assert outs[0][1:] == outs[1][1:]
    assert not list(path.glob(".index-build-*"))


def test_open_run_survives_a_rebuild(rundir):
    """A Run keeps answering from the index it opened while another one replaces it."""
    path = _trace().save(rundir / "r")
    with queries.open_run(path) as old:
        before = old.last_writer("x")
        with queries.open_run(path, rebuild=True) as new:
            assert new.index.built and new.last_writer("x") == before
        assert old.last_writer("x") == before  # its files are gone from the folder, not from it
        assert old.sql("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == old.events
        assert [r["symbol"] for r in old.races()] == ["x"]
    assert len(list((path / "index").iterdir())) == 4  # the new build: accesses, other, vclocks, checksums


def test_many_words_and_far_addresses(rundir, monkeypatch):
    """More words than 16-bit ids hold, addresses beyond the lookup table, several sort groups."""
    import queries.index_build
    monkeypatch.setattr(queries.index_build, "GROUP_ROWS", 5000)
    n = 33000
    words = {f"w{i}": (0x100 + 3 * i, 0) for i in range(n)}
    words["far"] = (1 << 40, 7)
    b = RunBuilder(threads=["t0", "t1"], words=words)
    for i in range(n):
        b.write("t0", f"w{i}", i + 1, site=("f", 1))
    for i in range(0, n, 7):
        b.read("t1", f"w{i}", site=("g", 1))
    b.write("t1", "far", 8, site=("g", 2))
    b.read("t0", "far", site=("f", 2))
    with queries.open_run(b.save(rundir / "r", batch_rows=4096)) as run:
        assert run.last_writer("w32999")["new"] == 33000
        assert run.last_writer("far")["new"] == 8 and run.value("far", at=0)["value"] == 7
        assert [w["seq"] for w in run.history("w700")] == [700]
        races = run.races()
        assert races == run.races(engine="sql")
        assert sum(r["count"] for r in races) == len(range(0, n, 7)) + 1
        got = run.sql("SELECT addr, count(*) AS n FROM accesses GROUP BY addr ORDER BY addr").to_pylist()
        assert len(got) == n + 1 and got[-1] == {"addr": 1 << 40, "n": 2}
        assert run.sql("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == run.events
