"""Replay to any seq equals the state computed by re-running the simulator from the start.

The oracle (conftest `tr.reference_state`) builds its own System with an observer that counts the
reports and sets `stop_requested` after report number SEQ: no checkpoint, no recording, one
uninterrupted run from the start.
"""

from __future__ import annotations

import random
import shutil

import pytest

import tracer
from sim.errors import SimError
from tracer import TraceError
from tracer.checkpoints import load_index, nearest


def _check_many(run, tr, count, rng_seed):
    names = tr.symbol_names(run)
    rows = run.events().to_pylist()
    n = len(rows)
    seqs = sorted(random.Random(rng_seed).sample(range(n), count)) + [0, n - 1]
    index = load_index(run.path)
    used = set()
    for seq in seqs:
        state = tracer.replay(run, seq, show=names)
        assert state.seq == seq
        assert tr.replayed_state(state) == tr.reference_state(run.meta, seq, names), seq
        # the event reported is the recorded row
        assert state.event == rows[seq]
        # from the nearest checkpoint at or before it
        assert state.checkpoint_seq == max(c.seq for c in index if c.seq <= seq)
        assert state.replayed_events == seq - state.checkpoint_seq + 1
        used.add(state.checkpoint_seq)
    return used


def test_replay_race_counter_to_random_seqs(rc_batches, tr):
    used = _check_many(rc_batches, tr, 30, 1)
    assert len(used) >= 5


def test_replay_nfs_vmxmon_to_random_seqs(nfs_panic, tr):
    assert nfs_panic.meta["outcome"] == "panic"
    used = _check_many(nfs_panic, tr, 30, 2)
    assert len(used) >= 5  # several checkpoints, each restored and run on


def test_replay_under_tso_with_store_buffers(tmp_path, tr):
    run = tracer.record("nfs_vmxmon", tmp_path / "r", cores=2, seed=3, memory_model="tso", checkpoint_every=100)
    _check_many(run, tr, 6, 3)
    # the store buffers are part of the replayed state: some state shows a pending store
    rng = random.Random(4)
    pending = 0
    for seq in rng.sample(range(run.meta["events"]), 16):
        state = tracer.replay(run, seq)
        pending += sum(len(c.store_buffer) for c in state.cores)
        ref = tr.reference_system(run.meta, seq)
        assert [[(e["addr"], e["value"]) for e in c.store_buffer] for c in state.cores] == \
            [[(a, v) for a, v, *_ in core.sb.entries] for core in ref.cores]
    assert pending


def test_replay_pct_scheduler(tmp_path, tr):
    run = tracer.record("nfs_vmxmon", tmp_path / "r", cores=2, seed=24, sched="pct", checkpoint_every=200)
    _check_many(run, tr, 8, 5)


def test_replay_to_panic(nfs_panic, tr):
    state = tracer.replay(nfs_panic, "panic")
    panic = nfs_panic.meta["panic"]
    assert state.seq == panic["seq"]
    assert state.event["kind"] == "panic"
    flusher = next(c for c in state.cores if c.thread == "flusher")
    assert (flusher.file, flusher.line, flusher.function) == (panic["file"], panic["line"], panic["function"])
    assert flusher.text.startswith("BUG_ON(")
    # the BUG_ON's condition: the request says clean while the page is dirty
    assert tr.replayed_state(tracer.replay(nfs_panic, "panic", show=tr.symbol_names(nfs_panic))) == \
        tr.reference_state(nfs_panic.meta, panic["seq"], tr.symbol_names(nfs_panic))
    assert state.threads["flusher"] == "running"


def test_replay_shows_call_stacks(nfs_panic):
    state = tracer.replay(nfs_panic, "panic")
    flusher = next(c for c in state.cores if c.thread == "flusher")
    assert flusher.stack, "nfs_page_async_flush is called from the flusher's loop"
    assert all({"function", "file", "line"} <= set(f) for f in flusher.stack)


def test_stepping_backwards_gives_the_previous_state(rc_batches, tr):
    rows = rc_batches.events().to_pylist()
    sym = {r["addr"]: r["name"] for r in rc_batches.table("symbols.parquet").to_pylist()}
    # writes that are not in the same instruction as the event before them
    writes = [e for e in rows if e["kind"] == "write" and e["seq"] > 0
              and rows[e["seq"] - 1]["cycle"] != e["cycle"] and e["old"] != e["new"]]
    for e in random.Random(6).sample(writes, 10):
        name = sym[e["addr"]]
        after = tracer.replay(rc_batches, e["seq"], show=[name])
        before = tracer.replay(rc_batches, e["seq"] - 1, show=[name])
        assert before.memory[name] == e["old"]
        assert after.memory[name] == e["new"]
        assert before.seq == e["seq"] - 1
        assert before.cycle < after.cycle
        assert tr.replayed_state(before) == tr.reference_state(rc_batches.meta, e["seq"] - 1, [name])


def test_replay_is_repeatable(nfs_panic):
    a = tracer.replay(nfs_panic, 200, show=["page0.flags"])
    b = tracer.replay(nfs_panic, 200, show=["page0.flags"])
    assert a.as_dict() == b.as_dict()


def test_replay_accepts_a_path_and_seq_strings(rc_run):
    by_path = tracer.replay(str(rc_run.path), "10", show=["counter"])
    assert by_path.seq == 10
    assert tracer.replay(rc_run.path, "0x0a", show=["counter"]).as_dict() == by_path.as_dict()


@pytest.mark.parametrize("to", [-1, 10**6, "{n}"])
def test_seq_out_of_range(rc_run, to):
    n = rc_run.meta["events"]
    with pytest.raises(TraceError, match=f"out of range.*0..{n - 1}") as e:
        tracer.replay(rc_run, to.format(n=n) if isinstance(to, str) else to)
    assert str(rc_run.path) in str(e.value)


def test_last_seq_is_in_range(rc_run):
    n = rc_run.meta["events"]
    assert tracer.replay(rc_run, n - 1).seq == n - 1


def test_bad_to(rc_run):
    with pytest.raises(TraceError, match="--to takes a seq \\(a number\\), 'panic' or 'end', not 'banana'"):
        tracer.replay(rc_run, "banana")


def test_to_end_is_the_last_event(rc_run):
    """A deadlocked or completed run has no panic to name: `end` is its last event."""
    n = rc_run.meta["events"]
    assert tracer.replay(rc_run, "end").seq == n - 1


def test_panic_on_a_run_that_did_not_panic(rc_run):
    with pytest.raises(TraceError, match="did not panic.*completed"):
        tracer.replay(rc_run, "panic")


def test_unknown_show_symbol(rc_run):
    with pytest.raises(SimError, match="unknown symbol"):
        tracer.replay(rc_run, 5, show=["nope"])


def test_not_a_run_directory(tmp_path):
    with pytest.raises(TraceError, match="no such run directory"):
        tracer.replay(tmp_path / "missing", 0)
    with pytest.raises(TraceError, match="not a run directory"):
        tracer.replay(tmp_path, 0)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(TraceError, match="meta.json is not valid JSON"):
        tracer.RunDir.open(tmp_path)
    (tmp_path / "meta.json").write_text('{"seed": 1, "scenario": "race_counter_asm"}')
    with pytest.raises(TraceError, match="no events/"):
        tracer.RunDir.open(tmp_path)
    (tmp_path / "events").mkdir()
    (tmp_path / "meta.json").write_text('{"hello": 1}')
    with pytest.raises(TraceError, match="not a revtrace run"):
        tracer.RunDir.open(tmp_path)


def test_missing_checkpoints(rc_run, tmp_path, tr):
    run = tr.copy_run(rc_run, tmp_path / "r")
    shutil.rmtree(run.path / "checkpoints")
    with pytest.raises(TraceError, match="no checkpoints"):
        tracer.replay(run, 3)


def test_damaged_checkpoint(rc_batches, tmp_path, tr):
    run = tr.copy_run(rc_batches, tmp_path / "r")
    index = load_index(run.path)
    ck = nearest(index, 500)
    (run.path / "checkpoints" / ck.file).write_bytes(b"\x80\x05garbage")
    with pytest.raises(TraceError, match="damaged checkpoint") as e:
        tracer.replay(run, 500)
    assert ck.file in str(e.value)
    # other checkpoints still serve
    assert tracer.replay(run, 10).seq == 10


def test_damaged_checkpoint_index(rc_run, tmp_path, tr):
    run = tr.copy_run(rc_run, tmp_path / "r")
    (run.path / "checkpoints" / "index.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(TraceError, match="index.parquet"):
        tracer.replay(run, 3)


def _copy_scenario(tmp_path, name="race_counter_asm"):
    from sim.scenario import load_scenario

    dst = tmp_path / name
    shutil.copytree(load_scenario(name).folder, dst)
    return dst


def test_replay_refuses_a_run_whose_sources_changed(tmp_path):
    folder = _copy_scenario(tmp_path)
    run = tracer.record(folder, tmp_path / "r", cores=2, params=(("N", 5),))
    assert tracer.replay(run.path, 10).seq == 10
    src = folder / "counter.s"
    src.write_text(src.read_text().replace("add r2, 1", "add r2, 2"))
    with pytest.raises(TraceError, match="sources changed") as e:
        tracer.replay(run.path, 10)
    assert str(run.path) in str(e.value)


def test_replay_refuses_a_run_whose_toml_changed(tmp_path):
    folder = _copy_scenario(tmp_path)
    run = tracer.record(folder, tmp_path / "r", cores=2, params=(("N", 5),))
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text().replace("timeslice = 100", "timeslice = 90"))
    with pytest.raises(TraceError, match="sources changed"):
        tracer.replay(run.path, 10)


def test_replay_of_a_run_whose_scenario_is_gone(tmp_path):
    folder = _copy_scenario(tmp_path)
    run = tracer.record(folder, tmp_path / "r", params=(("N", 5),))
    shutil.rmtree(folder)
    with pytest.raises(TraceError, match="cannot rebuild the recorded scenario"):
        tracer.replay(run.path, 10)


def test_checkpoints_missing_from_the_index_are_found_from_their_files(tmp_path):
    """A recording killed between writing a checkpoint and indexing it: load_index reads the
    checkpoint files the index lacks, and replay uses them."""
    import pyarrow.parquet as pq

    run = tracer.record("race_counter_asm", tmp_path / "r", cores=2, seed=1, params=(("N", 300),), checkpoint_every=100)
    index_file = run.path / "checkpoints" / "index.parquet"
    full = load_index(run.path)
    assert len(full) > 3
    pq.write_table(pq.read_table(index_file).slice(0, 1), index_file)
    assert load_index(run.path) == full
    seq = full[-1].seq + 1
    assert tracer.replay(run, seq).checkpoint_seq == full[-1].seq
