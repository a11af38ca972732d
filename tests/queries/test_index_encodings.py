"""The index's compact encodings of `accesses` (queries/index_encodings.py, queries/columns.py):
look-up columns (kind, mode, atomic by site; core, machine by thread), columns split into a
run-end encoded high part and low bits, and the derived old / issued. Whatever a run's layout,
every column read back (numpy slices, gathers, single rows, the seq search, SQL) is the
recording's, checked against the events read straight from the parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import queries
import tracer
from queries import columns as C
from queries import index_build, index_encodings
from queries.index_state import ACCESS_COLUMNS
from sim.scenario import RunOptions, load_scenario
from tracer import schema as S

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "bench" / "scenarios" / "mixed"
TSO_PAIR = Path(__file__).resolve().parent / "scenarios" / "tso_release"


def recorded_accesses(path: Path) -> dict[str, np.ndarray]:
    """The run's reads, writes and rmws in (addr, seq) order, straight from its event parts."""
    tables = []
    for part in sorted((path / S.EVENTS_DIR).glob("part-*.arrows")):
        with pa.OSFile(str(part)) as f:
            tables.append(pa.ipc.open_stream(f).read_all())
    t = pa.concat_tables(tables)
    cols = {}
    for name in ACCESS_COLUMNS:
        col = t.column(name).combine_chunks()
        cols[name] = (col.indices if pa.types.is_dictionary(col.type) else col).to_numpy(zero_copy_only=False)
    acc = (cols["kind"] <= 2) & (cols["addr"] >= 0)
    cols = {k: v[acc] for k, v in cols.items()}
    order = np.lexsort((cols["seq"], cols["addr"]))
    return {k: v[order] for k, v in cols.items()}


def check_every_reading(path: Path) -> C.Layout:
    """Every column of `accesses`, read every way, equals the recording; returns the layout."""
    want = recorded_accesses(path)
    n = len(want["seq"])
    rng = np.random.default_rng(7)
    with queries.open_run(path, progress=False) as run:
        acc = run.data["accesses"]
        assert acc.layout.rows == n
        rows = rng.integers(0, n, size=min(n, 500)) if n else np.empty(0, dtype=np.int64)
        for name in ACCESS_COLUMNS:
            expect = want[name].astype(np.int64) if name not in ("old", "new") else want[name]
            assert np.array_equal(acc.numpy(name).astype(expect.dtype), expect), name
            lo, hi = n // 3, 2 * n // 3 + 1
            assert np.array_equal(acc.numpy(name, lo, hi).astype(expect.dtype), expect[lo:hi]), name
            assert np.array_equal(acc.take(name, rows).astype(expect.dtype), expect[rows]), name
            for i in rows[:50].tolist():
                assert acc.value(name, i) == int(expect[i]), (name, i)
        # the seq search within each word (seq ascends there)
        starts = np.flatnonzero(np.r_[True, want["addr"][1:] != want["addr"][:-1]]) if n else []
        ends = list(starts[1:]) + [n]
        for s, e in list(zip(starts, ends))[:40]:
            seqs = want["seq"][s:e]
            probes = [0, int(seqs[0]), int(seqs[-1]), int(seqs[-1]) + 1, *rng.integers(0, int(seqs[-1]) + 2, 8).tolist()]
            for v in probes:
                for side in ("left", "right"):
                    assert acc.search("seq", int(s), int(e), v, side) == s + int(np.searchsorted(seqs, v, side)), (s, v, side)
        # SQL sees the recording's values and types
        got = run.sql("SELECT * FROM accesses ORDER BY addr, seq")
        for name in ACCESS_COLUMNS:
            col = got.column(name).to_pylist()
            if name in ("kind", "mode"):
                names = S.KIND_NAMES if name == "kind" else S.MODE_NAMES
                assert col == [names[c] for c in want[name].tolist()], name
            elif name == "atomic":
                assert col == want[name].astype(bool).tolist()
            else:
                assert col == want[name].tolist(), name
        types = {r["column_name"]: r["column_type"] for r in run.sql("DESCRIBE accesses").to_pylist()}
        assert types["seq"] == "BIGINT" and types["new"] == "UBIGINT" and types["old"] == "UBIGINT"
        assert types["kind"] == "VARCHAR" and types["atomic"] == "BOOLEAN" and types["core"] == "SMALLINT"
        return acc.layout


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_mixed_benchmark_columns_are_looked_up_and_split(rundir, model):
    sc = load_scenario(MIXED)
    run = tracer.record(sc, rundir / model, options=RunOptions(seed=1, memory_model=model, params=(("ROUNDS", 40),)))
    layout = check_every_reading(run.path)
    types = {n: t for n, t, _, _ in layout.columns}
    # kind, mode and atomic follow from the instruction, core and machine from the thread
    assert types["kind"] == "kind@site" and types["mode"] == "mode@site" and types["atomic"] == "bool@site"
    assert types["core"].endswith("@thread") and types["machine"].endswith("@thread")
    assert "cycle_hi" in types and types["cycle_lo"] == "uint16"  # (seq still fits 16 bits here)
    if model == "tso":  # the drains carry their store's site: still one kind per site
        assert any(t for n, t in types.items() if n.startswith("issued"))


@pytest.mark.parametrize("variant", ["buggy", "fixed"])
def test_tso_release_pair_reads_back_and_races_agree(rundir, variant):
    for seed in (0, 3):
        run = tracer.record(TSO_PAIR, rundir / f"{variant}{seed}", variant=variant, seed=seed)
        check_every_reading(run.path)
        with queries.open_run(run.path) as r:
            found = r.races()
            assert r.races(engine="sql") == found and r.races(all_pairs=True) == found
            assert bool(found) == (variant == "buggy")


def test_columns_that_are_not_functions_stay_columns(rundir, builder):
    b = builder(threads=["t0", "t1"], words={"a": 0, "b": 0, "flags": 0}, bits={"PG_x": 3})
    for i in range(300):
        b.read("t0", "a", site=("f", 1))
        b.write("t0", "a", i, site=("f", 1))  # one site, two kinds
        b.write("t1", "b", i * 3, site=("g", 2), core=i % 2)  # t1 moves between cores
        b.set_bit("t1", "flags", 3, site=("g", 3)) if i % 2 else b.clear_bit("t1", "flags", 3, site=("g", 4))
    path = b.save(rundir / "r", batch_rows=128)
    layout = check_every_reading(path)
    types = {n: t for n, t, _, _ in layout.columns}
    assert types["kind"] == "kind" and types["mode"] == "mode" and types["atomic"] == "bool"
    assert types["core"] == "int8" and "@" not in types["machine"]
    with queries.open_run(path) as run:
        for target in ("a", "b", "flags", "flags:PG_x"):
            for before in (5, 400, run.end):
                assert run.last_writer(target, before=before) == run.last_writer(target, before=before, engine="sql")
            assert run.history(target) == run.history(target, engine="sql")


def test_split_holds_negative_and_64_bit_values(rundir, builder, monkeypatch):
    """Every candidate column split (the gain required made negative), with values that need all
    64 bits and writes that lower a word (old_rel negative)."""
    monkeypatch.setattr(index_encodings, "SPLIT_GAIN", -100.0)
    monkeypatch.setattr(index_encodings, "SPLIT_ROWS_PER_RUN", 0)
    monkeypatch.setattr(index_build._Split, "CHUNK", 37)  # the high parts worked out slice by slice
    b = builder(threads=["t0", "t1"], words={"big": 0, "flags": 0xFF, "n": 0}, bits={"PG_b": 5})
    rng = np.random.default_rng(3)
    for i in range(400):
        b.write("t0", "big", int(rng.integers(0, 1 << 63)) * 2 + 1, site=("f", 1))  # above 2**63 too
        b.read("t1", "big", site=("g", 1))
        b.clear_bit("t1", "flags", 5, site=("g", 2))
        b.set_bit("t0", "flags", 5, site=("f", 2))
        b.write("t1", "n", 1000 - i, site=("g", 3))  # counting down
    path = b.save(rundir / "r", batch_rows=100)
    layout = check_every_reading(path)
    names = {n for n, _, _, _ in layout.columns}
    assert {"seq_hi", "seq_lo", "cycle_hi", "new_hi", "old_hi"} <= names
    with queries.open_run(path) as run:
        for target in ("big", "flags", "flags:PG_b", "n"):
            for before in (0, 7, 1000, run.end):
                assert run.last_writer(target, before=before) == run.last_writer(target, before=before, engine="sql")
                assert run.value(target, at=before) == run.value(target, at=before, engine="sql")
            assert run.history(target) == run.history(target, engine="sql")


def test_old_rel_split_with_negative_values(rundir, builder, monkeypatch):
    monkeypatch.setattr(index_encodings, "SPLIT_GAIN", -100.0)
    monkeypatch.setattr(index_encodings, "SPLIT_ROWS_PER_RUN", 0)
    """old stored as new - old (a 64-bit word that moves by less than 2**15), split."""
    b = builder(threads=["t0", "t1"], words={"n": 1 << 40})
    for i in range(500):
        b.write("t0" if i % 3 else "t1", "n", (1 << 40) + (i * 37) % 2000 - 1000, site=("f", i % 5))
    path = b.save(rundir / "r", batch_rows=64)
    layout = check_every_reading(path)
    assert "old_rel_hi" in {n for n, _, _, _ in layout.columns}


def test_values_without_long_runs_are_not_split(rundir, builder):
    """Random 32-bit values change their high part at every write: `new` stays one column."""
    b = builder(threads=["t0", "t1"], words={"w": 0, "v": 0})
    rng = np.random.default_rng(5)
    for i in range(3000):
        b.write("t0", "w", int(rng.integers(0, 1 << 32)), site=("f", 1))
        b.read("t1", "v", site=("g", 1))
    path = b.save(rundir / "r", batch_rows=256)
    layout = check_every_reading(path)
    types = {n: t for n, t, _, _ in layout.columns}
    assert types["new"] == "uint32" and "new_hi" not in types
