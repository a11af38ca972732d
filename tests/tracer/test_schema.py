"""The run directory contract: every file of the layout, every table's schema and content."""

from __future__ import annotations

import functools
import itertools
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

import tracer
from sim import observer as sim_observer
from sim.scenario import load_scenario
from tracer import schema
from tracer.record_session import TOOL_VERSION
from tracer.trace_stream import TraceStream


def test_kind_names_match_the_simulator():
    assert schema.KIND_NAMES == sim_observer.KIND_NAMES
    # and the numeric codes the simulator reports are the positions of the names
    for i, name in enumerate(schema.KIND_NAMES):
        assert getattr(sim_observer, name.upper()) == i
    assert schema.KIND_DICTIONARY.to_pylist() == list(schema.KIND_NAMES)


def test_every_file_of_the_layout_exists(rc_run):
    p = rc_run.path
    for name in ("meta.json", "symbols.parquet", "bits.parquet", "sites.parquet", "threads.parquet",
                 "checkpoints/index.parquet", "events/part-00000.arrows", "vclocks/part-00000.arrows"):
        assert (p / name).is_file(), name
    index = pq.read_table(p / "checkpoints" / "index.parquet").to_pylist()
    for row in index:
        assert (p / "checkpoints" / row["file"]).is_file()
    # nothing half-written is left behind
    assert not list(p.rglob("*.tmp"))
    assert not (p / ".write-test").exists()


def test_events_have_exactly_the_schema(rc_run):
    # as written on disk (the stream's own schema) and as read back
    with pa.memory_map(str(rc_run.path / "events" / "part-00000.arrows")) as src:
        on_disk = ipc.open_stream(src).schema
    assert on_disk.equals(schema.EVENTS, check_metadata=True)
    assert rc_run.events().schema.equals(schema.EVENTS)
    with pa.memory_map(str(rc_run.path / "vclocks" / "part-00000.arrows")) as src:
        assert ipc.open_stream(src).schema.equals(schema.VCLOCKS)
    assert rc_run.vclocks().schema.equals(schema.VCLOCKS)


@pytest.mark.parametrize("name, expected", [
    ("symbols.parquet", schema.SYMBOLS), ("bits.parquet", schema.BITS), ("sites.parquet", schema.SITES),
    ("threads.parquet", schema.THREADS), ("checkpoints/index.parquet", schema.CHECKPOINTS)])
def test_dimension_tables_have_their_schemas(rc_run, name, expected):
    assert rc_run.table(name).schema.equals(expected)


def test_seq_dense_from_zero_and_kinds_are_known(rc_run, nfs_panic):
    for run in (rc_run, nfs_panic):
        t = run.events()
        assert t.num_rows == run.meta["events"] > 0
        assert np.array_equal(t["seq"].to_numpy(), np.arange(t.num_rows))
        assert set(t["kind"].to_pylist()) <= set(schema.KIND_NAMES)
        # the dictionary is the schema's: kind codes are the simulator's codes
        for chunk in t["kind"].chunks:
            assert chunk.dictionary.to_pylist() == list(schema.KIND_NAMES)
        # the global clock never goes backwards
        assert np.all(np.diff(t["cycle"].to_numpy()) >= 0)
        # no nulls anywhere: missing values are -1
        for col in t.columns:
            assert col.null_count == 0


def test_meta(rc_run):
    meta = json.loads((rc_run.path / "meta.json").read_text())
    assert meta == rc_run.meta
    sc = load_scenario("race_counter_asm")
    assert meta["scenario"] == str(sc.folder.resolve())
    assert meta["scenario_name"] == "race_counter_asm"
    assert isinstance(meta["scenario_hash"], str) and len(meta["scenario_hash"]) == 64
    assert meta["variant"] is None  # race_counter has no variants
    assert meta["seed"] == 3
    assert meta["cores"] == {"host": 2}
    assert meta["sched"] == "random"
    assert meta["memory_model"] == "sc"
    assert meta["tool_version"] == TOOL_VERSION
    assert meta["schema_version"] == schema.SCHEMA_VERSION
    assert meta["outcome"] == "completed"
    assert meta["truncated"] is False
    assert meta["events"] == rc_run.events().num_rows
    # one global clock: every instruction on any core takes a cycle
    assert 0 < meta["instructions"] <= meta["cycles"]
    assert meta["machines"] == ["host"]
    assert meta["threads"] == ["t0", "t1"]
    assert meta["options"]["params"] == {"N": 20}
    writes = [e for e in rc_run.events().to_pylist() if e["kind"] == "write"]
    assert meta["memory"] == {"counter": writes[-1]["new"]}  # --show's final value
    assert meta["panic"] is None


def test_meta_of_a_panicking_run(nfs_panic):
    meta = nfs_panic.meta
    assert meta["outcome"] == "panic"
    assert meta["variant"] == "v2"  # the scenario's default variant is recorded, not None
    assert meta["cores"] == {"client": 2, "server": 1}
    panic = meta["panic"]
    assert "BUG_ON(test_bit(PG_CLEAN" in panic["message"]
    assert panic["function"] == "nfs_page_async_flush"
    # the panic's seq is the panic event, the last event of the run
    t = nfs_panic.events()
    assert panic["seq"] == t.num_rows - 1
    last = t.slice(t.num_rows - 1).to_pylist()[0]
    assert last["kind"] == "panic"
    assert last["site"] == panic["site"]
    site = nfs_panic.table("sites.parquet").to_pylist()[panic["site"]]
    assert (site["file"], site["line"], site["function"]) == (panic["file"], panic["line"], panic["function"])


def test_symbols_match_the_events(rc_run):
    symbols = {r["name"]: r for r in rc_run.table("symbols.parquet").to_pylist()}
    assert set(symbols) == {"counter"}
    counter = symbols["counter"]
    assert (counter["object"], counter["field"], counter["size"], counter["machine"], counter["initial"]) == \
        ("counter", "", 1, "host", 0)
    t = rc_run.events().to_pylist()
    accessed = {e["addr"] for e in t if e["kind"] in ("read", "write")}
    assert accessed == {counter["addr"]}


def test_symbols_of_structures(nfs_panic):
    symbols = {r["name"]: r for r in nfs_panic.table("symbols.parquet").to_pylist()}
    assert symbols["page0.flags"]["object"] == "page0"
    assert symbols["page0.flags"]["field"] == "flags"
    assert symbols["server_page0.data[0]"]["machine"] == "server"
    assert symbols["inode.i_lock"]["machine"] == "client"
    addrs = [r["addr"] for r in symbols.values()]
    assert len(set(addrs)) == len(addrs)
    # every lock taken in the run is a named symbol
    t = nfs_panic.events().to_pylist()
    by_addr = {r["addr"]: name for name, r in symbols.items()}
    locks = {by_addr.get(e["sync"]) for e in t if e["kind"] in ("acquire", "release")}
    assert None not in locks
    assert "inode.i_lock" in locks


def test_bits_table(rc_run):
    bits = {r["name"]: r["bit"] for r in rc_run.table("bits.parquet").to_pylist()}
    # kernel.inc's page flags
    assert bits["PG_locked"] == 0
    assert bits["PG_dirty"] == 2
    assert bits["PG_writeback"] == 3


def test_sites_table(rc_run):
    sites = rc_run.table("sites.parquet").to_pylist()
    assert [s["site"] for s in sites] == list(range(len(sites)))
    text = {s["text"]: s for s in sites}
    assert text["ld r2, [counter]"]["file"] == "counter.s"
    assert text["ld r2, [counter]"]["function"] == "worker"
    assert text["ld r2, [counter]"]["label"] == "worker.loop"
    src = (load_scenario("race_counter_asm").folder / "counter.s").read_text().splitlines()
    for s in sites:
        line = src[s["line"] - 1]
        # the site's line holds its instruction (macros such as cond_resched expand in place)
        assert line[s["col"] - 1:].startswith(s["text"].split()[0]), (s, line)
    t = rc_run.events().to_pylist()
    for e in t:
        if e["kind"] == "read":
            assert sites[e["site"]]["text"].startswith("ld")
        elif e["kind"] == "write":
            assert sites[e["site"]]["text"].startswith("st")
        elif e["kind"] == "exit":
            assert sites[e["site"]]["text"] == "halt"


def test_threads_table(rc_run, nfs_panic):
    assert rc_run.table("threads.parquet").to_pylist() == [
        {"thread": 0, "name": "t0", "machine": "host", "kind": "kernel", "entry": "worker"},
        {"thread": 1, "name": "t1", "machine": "host", "kind": "kernel", "entry": "worker"}]
    rows = {r["name"]: r for r in nfs_panic.table("threads.parquet").to_pylist()}
    assert rows["vmxmon"]["kind"] == "user"
    assert rows["nfsd"]["machine"] == "server"
    assert sorted(r["thread"] for r in rows.values()) == list(range(len(rows)))
    t = nfs_panic.events()
    assert set(t["thread"].to_pylist()) <= {r["thread"] for r in rows.values()}


def test_events_machine_and_core_columns(nfs_panic):
    meta = nfs_panic.meta
    machines = meta["machines"]
    threads = {r["thread"]: r for r in nfs_panic.table("threads.parquet").to_pylist()}
    for e in nfs_panic.events().to_pylist():
        m = machines[e["machine"]]
        assert 0 <= e["core"] < meta["cores"][m]
        assert threads[e["thread"]]["machine"] == m


def test_checkpoint_index(rc_batches):
    index = rc_batches.table("checkpoints/index.parquet").to_pylist()
    assert len(index) > 5
    assert index[0]["seq"] == 0 and index[0]["cycle"] == 0 and index[0]["instructions"] == 0
    for a, b in itertools.pairwise(index):
        assert a["seq"] <= b["seq"] and a["cycle"] <= b["cycle"] and a["instructions"] < b["instructions"]
        # roughly every `checkpoint_every` instructions
        assert b["instructions"] - a["instructions"] >= rc_batches.meta["checkpoint_every"]
    assert len({r["file"] for r in index}) == len(index)
    assert all(r["seq"] <= rc_batches.meta["events"] for r in index)
    # each checkpoint's seq is where a batch ends: everything before a checkpoint is on disk
    ends = set(np.cumsum([0] + [b.num_rows for b in rc_batches.reader()]).tolist())
    assert {r["seq"] for r in index} <= ends


def test_checkpoint_cycles_match_the_events(rc_batches):
    t = rc_batches.events()
    cycles = t["cycle"].to_numpy()
    for r in rc_batches.table("checkpoints/index.parquet").to_pylist()[1:]:
        s = r["seq"]
        assert cycles[s - 1] <= r["cycle"]
        if s < len(cycles):
            assert cycles[s] >= r["cycle"]


def test_vclocks_rows_name_every_epoch(rc_run, lc_run, nfs_panic):
    for run in (rc_run, lc_run, nfs_panic):
        threads = len(run.table("threads.parquet"))
        vc = {}
        for r in run.vclocks().to_pylist():
            vc.setdefault((r["thread"], r["clock"]), []).append(r)
        for rows in vc.values():
            # one row per other thread, and the thread's own entry is the epoch
            assert sorted(r["of_thread"] for r in rows) == list(range(threads))
            own = next(r for r in rows if r["of_thread"] == r["thread"])
            assert own["value"] == own["clock"]
        t = run.events()
        epochs = set(zip(t["thread"].to_pylist(), t["clock"].to_pylist()))
        assert epochs <= set(vc)


def test_empty_options_are_the_scenarios_defaults(tmp_path):
    run = tracer.record("nfs_vmxmon", tmp_path / "r", seed=22, step_limit=300)
    assert run.meta["outcome"] == "step_limit"
    assert run.meta["variant"] == "v2"
    assert run.meta["cores"] == {"client": 3, "server": 1}
    assert run.meta["options"]["step_limit"] == 300
    assert run.meta["instructions"] == 300


def test_parts_roll_and_read_back_as_one_dense_stream(tmp_path, monkeypatch, tr):
    # a small roll size so that a short recording spans several part files
    import tracer.trace_writer as rs

    monkeypatch.setattr(rs, "TraceStream", functools.partial(TraceStream, roll_rows=100))
    run = tracer.record("race_counter_asm", tmp_path / "r", cores=2, seed=3, params=(("N", 200),),
                        checkpoint_every=60)
    parts = run.event_parts()
    assert [p.name for p in parts] == [f"part-{i:05d}.arrows" for i in range(len(parts))]
    assert len(parts) >= 4
    t = run.events()
    assert t.num_rows == run.meta["events"]
    assert np.array_equal(t["seq"].to_numpy(), np.arange(t.num_rows))
    assert run.check_events() == (t.num_rows, [])
    # the reader streams part after part
    assert sum(b.num_rows for b in run.reader()) == t.num_rows
    # events_between reads across part boundaries
    w = run.events_between(95, 410)
    assert w["seq"].to_pylist() == list(range(95, 411))
    assert w.to_pylist() == t.slice(95, 316).to_pylist()
    # and replay works across them
    for seq in (99, 100, 101, 405, t.num_rows - 1):
        state = tracer.replay(run, seq, show=["counter"])
        ref = tr.reference_state(run.meta, seq, ["counter"])
        assert tr.replayed_state(state) == ref


def test_smallest_recording(tmp_path, halt_only):
    run = tracer.record(halt_only, tmp_path / "r")
    # only the thread's switch onto its core and its halt
    assert run.meta["outcome"] == "completed"
    assert run.events()["kind"].to_pylist() == ["switch", "exit"]
    assert [p.name for p in run.event_parts()] == ["part-00000.arrows"]
    assert run.check_events() == (2, [])


@pytest.fixture
def halt_only(tmp_path):
    folder = tmp_path / "halt_only"
    folder.mkdir()
    (folder / "scenario.toml").write_text(
        'name = "halt_only"\n[machines.host]\ncores = 1\nsources = ["main.s"]\n\n'
        '[[threads]]\nname = "T0"\nentry = "main"\n')
    (folder / "main.s").write_text("main:\n    halt\n")
    return folder
