"""Small traces whose answers were worked out by hand (the seq numbers are in the comments)."""

from __future__ import annotations

import pytest
from runbuilder import RunBuilder

import queries

FLAGS = {"PG_locked": 0, "PG_dirty": 2, "PG_CLEAN": 3}


def _race_keys(races):
    return [(r["first"]["seq"], r["second"]["seq"], r["count"]) for r in races]


def _both_engines(run):
    numpy_ = run.races()
    assert run.races(engine="sql") == numpy_
    return numpy_


# ------------------------------------------------------------------------------------------------
# races


def test_unlocked_counter_races(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"counter": 0})
    b.read("t0", "counter", site=("worker", 7))        # 0
    b.read("t1", "counter", site=("worker", 7))        # 1
    b.write("t0", "counter", 1, site=("worker", 9))    # 2  races with 1 (t1's read)
    b.write("t1", "counter", 1, site=("worker", 9))    # 3  races with 2 (t0's write)
    with queries.open_run(b.save(rundir / "r")) as run:
        races = _both_engines(run)
    assert _race_keys(races) == [(1, 2, 1), (2, 3, 1)]
    first = races[0]
    assert first["symbol"] == "counter" and first["addr"] == 0x100
    assert first["first"] == {"seq": 1, "thread": "t1", "thread_id": 1, "core": 1, "machine": "host",
                              "kind": "read", "mode": "plain", "access": "plain read", "function": "worker",
                              "file": "worker.s", "line": 7, "site": 0}
    assert first["second"]["kind"] == "write" and first["second"]["line"] == 9
    assert first["second"]["thread"] == "t0"


def test_locked_counter_has_no_race(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"counter": 0, "counter_lock": 0})
    for t in ("t0", "t1", "t0", "t1"):
        b.acquire(t, "counter_lock", site=("worker", 8))
        b.read(t, "counter", site=("worker", 9))
        b.write(t, "counter", b.memory[0x100] + 1, site=("worker", 11))
        b.release(t, "counter_lock", site=("worker", 12))
    path = b.save(rundir / "r", meta={"locksets": [{"name": "c", "fields": "counter", "lock": "counter_lock"}]})
    with queries.open_run(path) as run:
        assert _both_engines(run) == []
        hb = run.hb()
    assert hb["locksets"][0]["holds"] and hb["locksets"][0]["checked"] == 8


def test_one_thread_skipping_the_lock(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"counter": 0, "counter_lock": 0})
    b.acquire("t0", "counter_lock", site=("worker", 8))   # 0 acquire, 1 rmw
    b.write("t0", "counter", 1, site=("worker", 11))      # 2
    b.release("t0", "counter_lock", site=("worker", 12))  # 3 write, 4 release
    b.write("t1", "counter", 2, site=("sneaky", 30))      # 5: races with 2, no lock held
    b.acquire("t0", "counter_lock", site=("worker", 8))   # 6, 7
    b.read("t0", "counter", site=("worker", 9))           # 8: races with 5
    b.release("t0", "counter_lock", site=("worker", 12))  # 9, 10
    path = b.save(rundir / "r", meta={"locksets": [{"name": "c", "fields": "count*", "lock": "counter_lock"}]})
    with queries.open_run(path) as run:
        races = _both_engines(run)
        hb = run.hb()
    assert _race_keys(races) == [(2, 5, 1), (5, 8, 1)]
    ls = hb["locksets"][0]
    assert not ls["holds"] and ls["checked"] == 3
    [v] = ls["violations"]
    assert v["first"]["seq"] == 5 and v["first"]["thread"] == "t1" and v["count"] == 1
    assert v["site"]["function"] == "sneaky" and v["lock"] == "counter_lock" and v["symbol"] == "counter"


def test_message_passing_orders_and_its_absence_races(rundir):
    b = RunBuilder(threads=["p", "c"], words={"data": 0, "other": 0})
    b.write("p", "data", 42, site=("produce", 1))     # 0
    m = b.send("p", payload=42, site=("produce", 2))   # 1
    b.recv("c", m, payload=42, site=("consume", 1))    # 2
    b.read("c", "data", site=("consume", 2))           # 3: ordered by send -> recv
    b.write("p", "other", 1, site=("produce", 3))     # 4: after the send
    b.read("c", "other", site=("consume", 3))          # 5: races with 4
    with queries.open_run(b.save(rundir / "r")) as run:
        assert _race_keys(_both_engines(run)) == [(4, 5, 1)]


def test_atomic_versus_plain(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"flags": 0}, bits=FLAGS)
    b.set_bit("t0", "flags", 2, site=("a", 1))                 # 0 rmw
    b.set_bit("t1", "flags", 0, site=("b", 1))                 # 1 rmw: both atomic, no race
    b.read("t1", "flags", site=("b", 2), atomic=True)         # 2 atomic read: no race
    b.read("t1", "flags", site=("b", 3))                       # 3 plain read: races with 0
    b.write("t0", "flags", 0, site=("a", 2))                   # 4 plain write: races with 3
    with queries.open_run(b.save(rundir / "r")) as run:
        assert _race_keys(_both_engines(run)) == [(0, 3, 1), (3, 4, 1)]


def test_rmw_that_changes_nothing_is_a_read(rundir):
    # a failed lock_page retry (test_and_set_bit_lock of a set bit) stores the word unchanged: it
    # conflicts like an atomic read, so it does not race with plain reads of the word
    b = RunBuilder(threads=["t0", "t1"], words={"page0.flags": 0}, bits=FLAGS)
    b.set_bit("t0", "page0.flags", 0, site=("lock_page", 1))    # 0 rmw 0 -> 1: takes PG_locked
    b.read("t0", "page0.flags", site=("test_dirty", 2))         # 1 plain read
    b.set_bit("t1", "page0.flags", 0, site=("lock_page", 1))    # 2 rmw 1 -> 1: failed, a read
    b.read("t1", "page0.flags", site=("peek", 3))               # 3 plain read: races with 0
    b.clear_bit("t0", "page0.flags", 0, site=("unlock_page", 4))  # 4 rmw 1 -> 0: races with 3
    b.write("t1", "page0.flags", 0, site=("rewrite", 5))        # 5 plain write 0 -> 0: a read,
    #                                                             races with 4 (a real write)
    with queries.open_run(b.save(rundir / "r")) as run:
        races = _both_engines(run)
        # still a write for last-writer
        assert run.last_writer("page0.flags")["seq"] == 5
    assert _race_keys(races) == [(0, 3, 1), (3, 4, 1), (4, 5, 1)]
    assert [(r["first"]["kind"], r["second"]["kind"]) for r in races][-1] == ("rmw", "write")


def test_failed_spin_lock_does_not_race(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"counter": 0, "lock": 0})
    b.acquire("t0", "lock", site=("worker", 1))       # 0 acquire, 1 rmw 0 -> 1
    b.read("t0", "lock", site=("assert_held", 9))     # 2 plain read of the lock word
    b.spin_fail("t1", "lock", site=("worker", 1))     # 3 rmw 1 -> 1: spinning, a read: no race with 2
    b.write("t0", "counter", 1, site=("worker", 2))   # 4
    b.release("t0", "lock", site=("worker", 3))       # 5 write 1 -> 0, 6 release
    b.acquire("t1", "lock", site=("worker", 1))       # 7 acquire, 8 rmw 0 -> 1: ordered after 6
    b.read("t1", "counter", site=("worker", 4))       # 9: ordered after 4
    with queries.open_run(b.save(rundir / "r")) as run:
        lock = run.sql("SELECT seq, kind FROM lock_ops ORDER BY seq").to_pylist()
        assert [(r["seq"], r["kind"]) for r in lock] == [(0, "acquire"), (6, "release"), (7, "acquire")]
        assert _both_engines(run) == []


def test_spawn_and_wake_order(rundir):
    b = RunBuilder(threads=["main", "kid", "waiter"], words={"x": 0, "y": 0})
    b.write("main", "x", 1, site=("m", 1))        # 0
    b.spawn("main", "kid", site=("m", 2))         # 1
    b.read("kid", "x", site=("k", 1))             # 2: ordered by the spawn
    b.write("kid", "y", 5, site=("k", 2))         # 3
    b.wake("kid", "waiter", site=("k", 3))        # 4
    b.sleep("waiter", site=("w", 1))              # 5
    b.read("waiter", "y", site=("w", 2))          # 6: ordered by the wake
    b.write("main", "y", 7, site=("m", 3))        # 7: races with 3 (kid) and 6 (waiter)
    with queries.open_run(b.save(rundir / "r")) as run:
        races = _both_engines(run)
    assert sorted(_race_keys(races)) == [(3, 7, 1), (6, 7, 1)]


def test_race_count_groups_site_pairs(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"a": 0, "b": 0})
    for i in range(3):
        for w in ("a", "b"):
            b.write("t0", w, 2 * i + 1, site=("f", 1))  # every write changes the word
            b.write("t1", w, 2 * i + 2, site=("g", 1))
    with queries.open_run(b.save(rundir / "r")) as run:
        races = _both_engines(run)
    assert len(races) == 1
    g = races[0]
    # every write but the first of each word races with the other thread's latest write of it
    assert g["count"] == 10 and g["addresses"] == 2
    assert (g["first"]["seq"], g["second"]["seq"]) == (10, 11)  # the latest pair is the example


# ------------------------------------------------------------------------------------------------
# last writer, history, value


@pytest.fixture
def flags_run(rundir):
    b = RunBuilder(threads=["t0", "t1"], words={"page0.flags": 0, "other": 7}, bits=FLAGS)
    b.set_bit("t0", "page0.flags", 2, site=("mark_dirty", 10))    # 0: 0 -> 4
    b.set_bit("t1", "page0.flags", 0, site=("lock_page", 20))     # 1: 4 -> 5
    b.clear_bit("t1", "page0.flags", 0, site=("unlock_page", 30))  # 2: 5 -> 4
    b.read("t0", "page0.flags", site=("check", 40))                # 3
    b.write("t0", "page0.flags", 4, site=("rewrite", 50))         # 4: 4 -> 4 (no change)
    b.panic("t1", site=("bug", 60))                                # 5
    run = queries.open_run(b.save(rundir / "r"))
    yield run
    run.close()


@pytest.mark.parametrize("engine", ["fast", "sql"])
def test_last_writer(flags_run, engine):
    run = flags_run
    w = run.last_writer("page0.flags", engine=engine)
    assert (w["seq"], w["old"], w["new"], w["function"], w["line"]) == (4, 4, 4, "rewrite", 50)
    assert w["bits_changed"] == []
    w = run.last_writer("page0.flags", changed=True, engine=engine)
    assert (w["seq"], w["bits_cleared"], w["bits_set"]) == (2, ["PG_locked"], [])
    assert w["thread"] == "t1" and w["kind"] == "rmw" and w["atomic"] is True
    w = run.last_writer("page0.flags:PG_dirty", engine=engine)
    assert (w["seq"], w["bit_old"], w["bit_new"], w["bits_set"]) == (0, 0, 1, ["PG_dirty"])
    assert run.last_writer("page0.flags", before=2, engine=engine)["seq"] == 1
    assert run.last_writer("page0.flags", before="panic", engine=engine)["seq"] == 4
    assert run.last_writer("page0.flags", before=0, engine=engine) is None
    assert run.last_writer("0x100", engine=engine)["seq"] == 4
    assert run.last_writer("256:2", engine=engine)["seq"] == 0
    assert run.last_writer("other", engine=engine) is None         # never written
    assert run.last_writer("0x999", engine=engine) is None         # nothing there at all


@pytest.mark.parametrize("engine", ["fast", "sql"])
def test_history_and_value(flags_run, engine):
    run = flags_run
    assert [w["seq"] for w in run.history("page0.flags", engine=engine)] == [0, 1, 2, 4]
    assert [w["seq"] for w in run.history("page0.flags:PG_locked", engine=engine)] == [1, 2]
    assert run.history("0x999", engine=engine) == []
    v = run.value("page0.flags", at=2, engine=engine)
    assert (v["value"], v["written_by"]["seq"], v["initial"], v["bits_set"]) == (5, 1, False, ["PG_locked", "PG_dirty"])
    v = run.value("page0.flags:PG_dirty", at=0, engine=engine)
    assert (v["value"], v["written_by"], v["initial"], v["bit_value"]) == (0, None, True, 0)
    assert run.value("other", at="end", engine=engine)["value"] == 7   # the initial value
    assert run.value("page0.flags", at="panic", engine=engine)["value"] == 4


def test_read_sees_value_at(flags_run):
    # the value at a read's seq is what the read returned
    ev = flags_run.sql("SELECT seq, new FROM events WHERE kind = 'read'").to_pylist()
    for e in ev:
        assert flags_run.value("page0.flags", at=e["seq"])["value"] == e["new"]


# ------------------------------------------------------------------------------------------------
# windows and orderings


def test_windows(rundir):
    b = RunBuilder(threads=["flusher", "rpciod"], words={"page0.flags": 0, "req0.wb_flags": 0},
                   bits=FLAGS)
    b.set_bit("flusher", "page0.flags", 2, site=("dirty", 1))      # 0: dirty, not clean: holds
    b.set_bit("rpciod", "req0.wb_flags", 3, site=("done", 1))      # 1: both: false (opens)
    b.read("flusher", "page0.flags", site=("dirty", 2))            # 2
    b.clear_bit("flusher", "page0.flags", 2, site=("clean", 1))    # 3: holds again (closes)
    b.set_bit("flusher", "page0.flags", 2, site=("dirty", 1))      # 4: false (opens)
    b.panic("flusher", site=("bug", 1))                            # 5: the end
    meta = {"invariants": [
        {"name": "consistent", "expr": "not (page0.flags:PG_dirty and req0.wb_flags:PG_CLEAN)"},
        {"name": "never", "expr": "page0.flags == 99"},
        {"name": "tmpl", "expr": "not (page{i}.flags:PG_dirty and req{i}.wb_flags:PG_CLEAN)", "for": "i in 0..0"},
    ]}
    with queries.open_run(b.save(rundir / "r", meta=meta)) as run:
        ws = run.windows("consistent")
        never = run.windows("never")
        assert [w["invariant"] for w in run.windows("tmpl")] == ["tmpl[0]", "tmpl[0]"]
        assert run.windows("tmpl[0]") == run.windows("tmpl")
    assert [(w["start_seq"], w["end_seq"], w["length"], w["end_reason"]) for w in ws] == \
        [(1, 3, 2, "write"), (4, 5, 1, "panic")]
    assert ws[0]["opened_by"]["seq"] == 1 and ws[0]["opened_by"]["thread"] == "rpciod"
    assert ws[0]["closed_by"]["seq"] == 3 and ws[0]["closed_by"]["function"] == "clean"
    assert ws[1]["closed_by"] is None and ws[1]["start_cycle"] == 5 and ws[1]["end_cycle"] == 6
    assert {(t["thread"], t["core"]) for t in ws[0]["threads"]} == {("flusher", 0), ("rpciod", 1)}
    # false from the very start: opened by nobody, never closed
    assert [(w["start_seq"], w["opened_by"], w["end_seq"], w["open_reason"]) for w in never] == \
        [(0, None, 5, "initial")]


def test_orderings(rundir):
    b = RunBuilder(threads=["p", "c"], words={"data": 0})
    b.read("c", "data", site=("consume", 1))            # 0: before anything was produced
    b.write("p", "data", 1, site=("produce", 1, "produce.store"))  # 1
    m = b.send("p", site=("produce", 2))                # 2
    b.recv("c", m, site=("consume", 2))                 # 3: ordered after 1 and 2
    b.read("c", "data", site=("consume", 1))            # 4: ordered
    meta = {"orderings": [
        {"name": "produce first", "before": "produce", "after": "consume"},
        {"name": "store first", "before": "produce.store", "after": "consume.s:1"},
        {"name": "reverse", "before": "consume", "after": "produce"},
    ]}
    with queries.open_run(b.save(rundir / "r", meta=meta)) as run:
        o1, o2, o3 = run.hb()["orderings"]
    assert not o1["holds"] and [(v["site"]["line"], v["count"], v["first"]["seq"]) for v in o1["violations"]] == [(1, 1, 0)]
    assert o1["checked"] == 3
    assert not o2["holds"] and o2["violations"][0]["first"]["seq"] == 0 and o2["violations"][0]["count"] == 1
    assert [s["events"] for s in o2["before_sites"]] == [1]
    # consume's first read (seq 0) is on another thread and nothing orders it before produce
    assert not o3["holds"] and [v["count"] for v in o3["violations"]] == [1, 1]
