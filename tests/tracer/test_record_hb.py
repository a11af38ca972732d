"""Happens-before from the recorded epochs and the vclocks side table, with the documented
one-comparison rule: a happens-before b (different threads) iff
    a.clock <= VC(b.thread, b.clock)[a.thread]
"""

from __future__ import annotations

import itertools

import pytest

import tracer


def _accesses(run, name):
    addr = next(r["addr"] for r in run.table("symbols.parquet").to_pylist() if r["name"] == name)
    return [e for e in run.events().to_pylist() if e["addr"] == addr and e["kind"] in ("read", "write", "rmw")]


def _cross_pairs(events):
    for a, b in itertools.combinations(events, 2):  # a.seq < b.seq
        if a["thread"] != b["thread"]:
            yield a, b


def test_locked_counter_every_cross_thread_pair_is_ordered(lc_run, tr):
    vc = tr.vclock_map(lc_run)
    pairs = list(_cross_pairs(_accesses(lc_run, "counter")))
    assert len(pairs) > 100
    for a, b in pairs:
        assert tr.happens_before(vc, a, b), (a, b)
        assert not tr.happens_before(vc, b, a), (a, b)  # never both ways


def test_race_counter_has_unordered_pairs(rc_run, tr):
    vc = tr.vclock_map(rc_run)
    pairs = list(_cross_pairs(_accesses(rc_run, "counter")))
    unordered = [(a, b) for a, b in pairs if not tr.happens_before(vc, a, b)]
    assert unordered
    # no synchronisation at all in this program: nothing orders the two threads
    assert len(unordered) == len(pairs)
    assert not any(tr.happens_before(vc, b, a) for a, b in pairs)


def test_release_acquire_and_send_recv_edges(nfs_panic, tr):
    vc = tr.vclock_map(nfs_panic)
    rows = nfs_panic.events().to_pylist()
    last_release = {}
    edges = 0
    for e in rows:
        if e["kind"] == "acquire" and e["sync"] in last_release:
            rel = last_release[e["sync"]]
            if rel["thread"] != e["thread"]:
                assert tr.happens_before(vc, rel, e), (rel, e)
                edges += 1
        if e["kind"] == "release":
            last_release[e["sync"]] = e
    sends = {e["sync"]: e for e in rows if e["kind"] == "send"}
    for e in rows:
        if e["kind"] == "recv":
            assert tr.happens_before(vc, sends[e["sync"]], e)
            edges += 1
    assert edges > 10
    # and the relation never points backwards in the global order
    for a, b in itertools.combinations(rows, 2):
        if a["thread"] != b["thread"]:
            assert not tr.happens_before(vc, b, a), (a, b)


@pytest.fixture
def spawn_wake(tmp_path):
    folder = tmp_path / "spawn_wake"
    folder.mkdir()
    (folder / "scenario.toml").write_text("""
name = "spawn_wake"
[machines.host]
cores = 2
sources = ["main.s"]

[[threads]]
name = "parent"
entry = "parent_fn"

[[threads]]
name = "kid"
entry = "kid_fn"
start = false
""")
    (folder / "main.s").write_text("""
.word data, 0
.word flag, 0
.word late, 0

parent_fn:
    st [data], 42       ; before the spawn: ordered before everything the kid does
    spawn kid
    st [late], 7        ; after the spawn, before nothing: races with the kid's read
    st [flag], 1        ; before the wake: ordered before the kid's read after its sleep
    wake kid
    halt

kid_fn:
    ld r1, [data]
    ld r3, [late]
    sleep
    ld r2, [flag]
    halt
""")
    return folder


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_spawn_and_wake_edges(spawn_wake, tmp_path, tr, seed):
    run = tracer.record(spawn_wake, tmp_path / f"r{seed}", seed=seed)
    assert run.meta["outcome"] == "completed"
    vc = tr.vclock_map(run)
    rows = run.events().to_pylist()
    sym = {r["name"]: r["addr"] for r in run.table("symbols.parquet").to_pylist()}

    def access(kind, name):
        return next(e for e in rows if e["kind"] == kind and e["addr"] == sym[name])

    assert tr.happens_before(vc, access("write", "data"), access("read", "data"))
    assert tr.happens_before(vc, access("write", "flag"), access("read", "flag"))
    assert not tr.happens_before(vc, access("write", "late"), access("read", "late"))
    assert not tr.happens_before(vc, access("read", "late"), access("write", "late"))
    # the spawn event itself precedes the kid's first event; the kid's events precede nothing of
    # the parent's (the parent never waits for it)
    spawn = next(e for e in rows if e["kind"] == "spawn")
    kid_events = [e for e in rows if e["thread"] == 1]
    assert spawn["sync"] == 1
    assert all(tr.happens_before(vc, spawn, e) for e in kid_events)
    parent_events = [e for e in rows if e["thread"] == 0]
    assert not any(tr.happens_before(vc, k, p) for k in kid_events for p in parent_events)
