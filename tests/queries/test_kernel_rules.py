"""The kernel's rules on small hand-made traces: one test per happens-before edge and per race rule,
the lockset rule for marked accesses, and lockdep's other two findings (a lock held while sleeping,
an unlock by a non-holder)."""

from __future__ import annotations

from runbuilder import RunBuilder

import queries


def _races(b: RunBuilder, path) -> list[tuple]:
    with queries.open_run(b.save(path)) as run:
        got = run.races()
        assert run.races(engine="sql") == got
        return [(r["symbol"], r["first"]["access"], r["second"]["access"]) for r in got]


def test_two_marked_accesses_never_race_but_marked_and_plain_do(rundir):
    b = RunBuilder(words={"flag": 0, "x": 0})
    b.write("t0", "flag", 1, site=("w", 1), mode="marked")
    b.read("t1", "flag", site=("r", 1), mode="marked")
    b.write("t0", "x", 1, site=("w", 2), mode="marked")
    b.read("t1", "x", site=("r", 2))
    assert _races(b, rundir / "r") == [("x", "marked write", "plain read")]


def test_a_release_read_by_an_acquire_orders_what_came_before(rundir):
    b = RunBuilder(words={"ready": 0, "val": 0, "other": 0})
    b.write("t0", "val", 42, site=("init", 1))
    b.write("t0", "ready", 1, site=("init", 2), mode="release")
    b.read("t1", "ready", site=("use", 1), mode="acquire")
    b.read("t1", "val", site=("use", 2))
    assert _races(b, rundir / "ordered") == []
    b = RunBuilder(words={"ready": 0, "val": 0})  # the same with a marked (not acquire) read
    b.write("t0", "val", 42, site=("init", 1))
    b.write("t0", "ready", 1, site=("init", 2), mode="release")
    b.read("t1", "ready", site=("use", 1), mode="marked")
    b.read("t1", "val", site=("use", 2))
    assert _races(b, rundir / "unordered") == [("val", "plain write", "plain read")]


def test_a_value_returning_atomic_is_fully_ordered_a_non_returning_one_is_not(rundir):
    for mode, races in (("atomic", []), ("atomic_noret", [("data", "plain read", "plain write")])):
        b = RunBuilder(words={"refs": 2, "data": 5})
        b.read("t0", "data", site=("use", 1))
        b.rmw("t0", "refs", 1, site=("put", 1), mode=mode)  # atomic_dec
        b.rmw("t1", "refs", 0, site=("put", 1), mode=mode)
        b.write("t1", "data", 0xdead, site=("free", 1))
        assert _races(b, rundir / mode) == races, mode


def test_fences_around_marked_accesses_pass_the_message(rundir):
    for fences, races in (((True, True), []), ((False, True), [("data", "plain write", "plain read")]),
                          ((True, False), [("data", "plain write", "plain read")])):
        b = RunBuilder(words={"flag": 0, "data": 0})
        b.write("t0", "data", 42, site=("prod", 1))
        if fences[0]:
            b.fence("t0", site=("prod", 2), mode="wmb")
        b.write("t0", "flag", 1, site=("prod", 3), mode="marked")
        b.read("t1", "flag", site=("cons", 1), mode="marked")
        if fences[1]:
            b.fence("t1", site=("cons", 2), mode="rmb")
        b.read("t1", "data", site=("cons", 3))
        assert _races(b, rundir / f"f{fences}") == races, fences


def test_a_forwarded_read_synchronises_with_nobody(rundir):
    b = RunBuilder(words={"flag": 0, "data": 0})
    b.write("t0", "data", 42, site=("prod", 1))
    b.write("t0", "flag", 1, site=("prod", 2), mode="release")
    b.read("t1", "flag", site=("cons", 1), mode="acquire", forwarded=True)  # its own buffered store
    b.read("t1", "data", site=("cons", 2))
    assert _races(b, rundir / "r") == [("data", "plain write", "plain read")]


def test_a_plain_store_ends_the_release_sequence_an_rmw_continues_it(rundir):
    for middle, races in (("rmw", []), ("plain", [("val", "plain write", "plain read")])):
        b = RunBuilder(threads=["t0", "t1", "t2"], words={"ready": 0, "val": 0})
        b.write("t0", "val", 42, site=("init", 1))
        b.write("t0", "ready", 1, site=("init", 2), mode="release")
        if middle == "rmw":
            b.rmw("t2", "ready", 3, site=("mid", 1), mode="atomic_noret")
        else:
            b.write("t2", "ready", 3, site=("mid", 1), mode="marked")
        b.read("t1", "ready", site=("use", 1), mode="acquire")
        b.read("t1", "val", site=("use", 2))
        assert _races(b, rundir / middle) == races, middle


def test_orderings_use_the_new_edges_and_a_marked_access_is_still_unlocked(rundir):
    b = RunBuilder(words={"ready": 0, "req.flags": 0, "req.lock": 0})
    b.write("t0", "ready", 1, site=("publish", 1), mode="release")
    b.read("t1", "ready", site=("consume", 1), mode="acquire")
    b.write("t1", "req.flags", 1, site=("consume", 2), mode="marked")  # WRITE_ONCE without the lock
    meta = {"orderings": [{"name": "o", "before": "publish", "after": "consume"}],
            "locksets": [{"name": "l", "fields": "req.flags", "lock": "req.lock"}]}
    with queries.open_run(b.save(rundir / "r", meta=meta)) as run:
        found = run.hb()
    assert found["orderings"][0]["holds"]
    assert [v["first"]["seq"] for v in found["locksets"][0]["violations"]] == [2]


def test_locks_held_while_sleeping_and_unlocked_by_another_thread(rundir):
    b = RunBuilder(words={"lk": 0, "m": 0})
    b.acquire("t0", "lk", site=("holder", 1))
    b.wake("t1", "t0", site=("waker", 1))
    b.sleep("t0", site=("holder", 2))
    b.release("t1", "lk", site=("thief", 1))
    with queries.open_run(b.save(rundir / "r")) as run:
        found = run.locks()
    assert found["cycles"] == []
    assert [(h["lock"], h["thread"], h["sleep"]["line"]) for h in found["held_while_sleeping"]] == [("lk", "t0", 2)]
    assert [(u["lock"], u["holder"], u["released_by"]) for u in found["unlocked_by_non_holder"]] == [("lk", "t0", "t1")]


def test_lock_order_cycle_of_three_and_trylock_adds_no_edge(rundir):
    b = RunBuilder(threads=["t0", "t1", "t2"], words={"a": 0, "b": 0, "c": 0})
    for t, (x, y) in zip(("t0", "t1", "t2"), (("a", "b"), ("b", "c"), ("c", "a"))):
        b.acquire(t, x, site=(f"{t}_fn", 1))
        b.acquire(t, y, site=(f"{t}_fn", 2))
        b.release(t, y, site=(f"{t}_fn", 3))
        b.release(t, x, site=(f"{t}_fn", 4))
    with queries.open_run(b.save(rundir / "three")) as run:
        found = run.locks()
    assert [c["locks"] for c in found["cycles"]] == [["a", "b", "c"]]
    assert [len(e["stack"]) for e in found["cycles"][0]["edges"]] == [2, 2, 2]
    b = RunBuilder(words={"a": 0, "b": 0})
    b.acquire("t0", "a", site=("f", 1))
    b.acquire("t0", "b", site=("f", 2))
    b.release("t0", "b", site=("f", 3))
    b.release("t0", "a", site=("f", 4))
    b.acquire("t1", "b", site=("g", 1))
    seq = b.acquire("t1", "a", site=("g", 2))
    b.events[seq]["mode"] = "trylock"  # spin_trylock: cannot wait, so no dependency b -> a
    with queries.open_run(b.save(rundir / "try")) as run:
        assert run.locks()["cycles"] == []


def test_set_bit_publishes_nothing_without_a_barrier(rundir):
    """queries/README.md's example: a non-value-returning RMW is unordered (the LKMM), so set_bit
    alone publishes nothing; smp_mb__before_atomic() (a full fence) before it, or an ordered form
    (test_and_set_bit, clear_bit_unlock read by an acquire), does."""
    for how, races in (("set_bit", [("buf", "plain write", "plain read")]), ("mb+set_bit", []),
                       ("test_and_set_bit", []), ("clear_bit_unlock", [])):
        b = RunBuilder(words={"flags": 1 if how == "clear_bit_unlock" else 0, "buf": 0})
        b.write("t0", "buf", 42, site=("publish", 1))
        if how == "mb+set_bit":
            b.fence("t0", site=("publish", 2), mode="mb")
        mode = {"test_and_set_bit": "atomic", "clear_bit_unlock": "release"}.get(how, "atomic_noret")
        b.rmw("t0", "flags", 0 if how == "clear_bit_unlock" else 1, site=("publish", 3), mode=mode)
        b.read("t1", "flags", site=("consume", 1), mode="acquire" if how == "clear_bit_unlock" else "marked")
        b.fence("t1", site=("consume", 2), mode="rmb")
        b.read("t1", "buf", site=("consume", 3))
        assert _races(b, rundir / how.replace("+", "_")) == races, how


def test_sync_edges_lists_the_kernel_rules_edges(rundir):
    """The view behind `revtrace sql` / hb users: reads-from (through an RMW chain) and fence edges
    appear with the word, next to the lock edges."""
    b = RunBuilder(threads=["t0", "t1", "t2", "t3"], words={"ready": 0, "val": 0, "flag": 0, "data": 0, "l": 0})
    b.write("t0", "val", 42, site=("init", 1))                               # 0
    b.write("t0", "ready", 1, site=("init", 2), mode="release")              # 1: head
    b.rmw("t2", "ready", 3, site=("mid", 1), mode="atomic_noret")            # 2: continues the sequence
    b.read("t1", "ready", site=("use", 1), mode="acquire")                   # 3: 1 -> 3 (and 2 publishes nothing)
    b.write("t0", "data", 7, site=("prod", 1))                               # 4
    b.fence("t0", site=("prod", 2), mode="wmb")                              # 5
    b.write("t0", "flag", 1, site=("prod", 3), mode="marked")                # 6
    b.read("t3", "flag", site=("cons", 1), mode="marked")                    # 7
    b.fence("t3", site=("cons", 2), mode="rmb")                              # 8: 5 -> 8
    b.acquire("t1", "l", site=("lock", 1))                                   # 9, 10: acquire, rmw
    b.release("t1", "l", site=("unlock", 1))                                 # 11, 12: release store, release
    b.acquire("t2", "l", site=("lock", 1))                                   # 13, 14
    with queries.open_run(b.save(rundir / "r")) as run:
        rows = run.sql("SELECT via, from_seq, to_seq, from_thread, to_thread, w.name AS word "
                       "FROM sync_edges LEFT JOIN words w USING (addr) ORDER BY to_seq, from_seq").to_pylist()
    assert [(r["via"], r["from_seq"], r["to_seq"], r["word"]) for r in rows] == [
        ("reads-from", 1, 3, "ready"), ("fence", 5, 8, "flag"),
        ("lock", 12, 13, "l"), ("reads-from", 11, 14, "l")]  # the lock word's release store, read by the lock's RMW
    assert all(r["from_thread"] != r["to_thread"] for r in rows)
