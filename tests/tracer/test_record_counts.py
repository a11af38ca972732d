"""The events match an independent account of what the program did.

The counts come from the programs' text (race_counter: each of two threads does N times a load and
a store of `counter`), and from a memory model of our own replayed over the recorded rows: under
sc every read must return, and every write must overwrite, the value of the previous write to the
same word (or the word's initial value).
"""

from __future__ import annotations

from collections import Counter

import tracer

N = 20  # the conftest recordings' N


def _of(rows, *kinds):
    return [e for e in rows if e["kind"] in kinds]


def test_race_counter_counts(rc_run):
    rows = rc_run.events().to_pylist()
    counter = rc_run.table("symbols.parquet").to_pylist()[0]["addr"]
    writes = [e for e in _of(rows, "write") if e["addr"] == counter]
    reads = [e for e in _of(rows, "read") if e["addr"] == counter]
    assert len(writes) == 2 * N
    assert len(reads) == 2 * N
    assert Counter(e["thread"] for e in writes) == {0: N, 1: N}
    assert Counter(e["thread"] for e in reads) == {0: N, 1: N}
    # nothing else happens in this program: two threads put on cores, two halts
    assert Counter(e["kind"] for e in rows) == {"read": 2 * N, "write": 2 * N, "switch": 2, "exit": 2}
    assert len(rows) == 4 * N + 4
    # plain accesses
    assert not any(e["atomic"] for e in reads + writes)
    assert all(e["sync"] == -1 for e in reads + writes)


def test_race_counter_each_store_writes_its_own_load_plus_one(rc_run):
    rows = rc_run.events().to_pylist()
    last_read = {}
    for e in rows:
        if e["kind"] == "read":
            last_read[e["thread"]] = e["new"]
        elif e["kind"] == "write":
            assert e["new"] == last_read.pop(e["thread"]) + 1
    writes = _of(rows, "write")
    assert rc_run.meta["memory"]["counter"] == writes[-1]["new"]
    assert N + 1 <= writes[-1]["new"] <= 2 * N  # at most N updates can be lost


def test_race_counter_one_core_loses_nothing(tmp_path):
    run = tracer.record("race_counter_asm", tmp_path / "r", cores=1, seed=5, params=(("N", N),), show=["counter"])
    rows = run.events().to_pylist()
    assert len(_of(rows, "write")) == 2 * N
    assert run.meta["memory"]["counter"] == 2 * N
    # on one core every event is on core 0, and threads take turns at cond_resched
    assert {e["core"] for e in rows} == {0}
    assert len(_of(rows, "switch")) > 2


def test_locked_counter_counts(lc_run):
    rows = lc_run.events().to_pylist()
    symbols = {r["name"]: r["addr"] for r in lc_run.table("symbols.parquet").to_pylist()}
    lock, counter = symbols["counter_lock"], symbols["counter"]
    acquires, releases = _of(rows, "acquire"), _of(rows, "release")
    assert len(acquires) == 2 * N
    assert len(releases) == 2 * N
    assert {e["sync"] for e in acquires + releases} == {lock}
    assert Counter(e["thread"] for e in acquires) == {0: N, 1: N}
    assert len([e for e in _of(rows, "write") if e["addr"] == counter]) == 2 * N
    assert len([e for e in _of(rows, "read") if e["addr"] == counter]) == 2 * N
    assert lc_run.meta["memory"]["counter"] == 2 * N
    # the lock word is only touched atomically
    assert all(e["atomic"] for e in rows if e["addr"] == lock)
    # acquire and release strictly alternate, and the holder releases
    holder = None
    for e in rows:
        if e["kind"] == "acquire":
            assert holder is None
            holder = e["thread"]
        elif e["kind"] == "release":
            assert holder == e["thread"]
            holder = None
        elif e["addr"] == counter:
            assert holder == e["thread"], "counter accessed outside the lock"
    # an acquire comes just before the successful test-and-set of the lock word by the same
    # instruction (so that the rmw itself is ordered after the previous release)
    for i, e in enumerate(rows):
        if e["kind"] == "acquire":
            nxt = rows[i + 1]
            assert (nxt["kind"], nxt["addr"], nxt["old"], nxt["new"]) == ("rmw", lock, 0, 1)
            assert (nxt["cycle"], nxt["thread"], nxt["site"]) == (e["cycle"], e["thread"], e["site"])


def _check_coherent(run: tracer.RunDir, check_reads: bool = True) -> int:
    """Replay the rows over a memory of our own; return how many accesses were checked."""
    mem = {}
    machine_of = {name: i for i, name in enumerate(run.meta["machines"])}
    for s in run.table("symbols.parquet").to_pylist():
        mem[(machine_of[s["machine"]], s["addr"])] = s["initial"]
    checked = 0
    for e in run.events().to_pylist():
        key = (e["machine"], e["addr"])
        if e["kind"] in ("write", "rmw"):
            assert e["old"] == mem.get(key, 0), e
            mem[key] = e["new"]
            checked += 1
        elif e["kind"] == "read" and check_reads:
            assert e["new"] == mem.get(key, 0), e
            checked += 1
    return checked


def test_every_access_is_coherent_under_sc(rc_run, lc_run, nfs_panic):
    for run in (rc_run, lc_run, nfs_panic):
        assert _check_coherent(run) > 2 * N


def test_final_memory_matches_the_last_writes(tmp_path):
    names = ["page0.flags", "page1.flags", "req0.wb_flags", "server_page0.data[0]", "mapping.nrdirty"]
    run = tracer.record("nfs_vmxmon", tmp_path / "r", cores=2, seed=22, show=names)
    last = {}
    for e in run.events().to_pylist():
        if e["kind"] in ("write", "rmw"):
            last[(e["machine"], e["addr"])] = e["new"]
    machine_of = {name: i for i, name in enumerate(run.meta["machines"])}
    symbols = {s["name"]: s for s in run.table("symbols.parquet").to_pylist()}
    for name in names:
        s = symbols[name]
        expected = last.get((machine_of[s["machine"]], s["addr"]), s["initial"])
        assert run.meta["memory"][name] == expected, name


def test_messages_pair_up(nfs_panic):
    rows = nfs_panic.events().to_pylist()
    sends = {e["sync"]: e for e in _of(rows, "send")}
    recvs = _of(rows, "recv")
    assert len(sends) == len(_of(rows, "send"))  # message ids are unique
    assert recvs
    machines = nfs_panic.meta["machines"]
    for r in recvs:
        s = sends[r["sync"]]
        assert s["seq"] < r["seq"]
        assert s["addr"] == r["addr"]  # the same port
        assert s["new"] == r["new"]  # the first payload word
        assert machines[s["machine"]] != machines[r["machine"]]


def test_switch_events_describe_the_cores(nfs_panic):
    running = {}
    for e in nfs_panic.events().to_pylist():
        key = (e["machine"], e["core"])
        if e["kind"] == "switch":
            prev = e["old"] if e["old"] < 1 << 63 else -1  # -1 (idle) as an unsigned word
            if prev != -1:  # (a core whose thread blocks or exits with nobody waiting goes idle silently)
                assert prev == running.get(key), e
            assert e["new"] == e["thread"]
            running[key] = e["thread"]
        else:
            # every other event is made by the thread that the core runs
            assert running.get(key) == e["thread"], e


def test_64_bit_values_round_trip(tmp_path, tr):
    """Words >= 2**63 are stored as uint64 (no sign or overflow trouble), in any batch."""
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "scenario.toml").write_text('[machines.host]\nsources = ["main.s"]\n'
                                          '[[threads]]\nname = "T"\nentry = "main"\n')
    (folder / "main.s").write_text("""
.word big, 0
.word small, 0

main:
    mov r1, 0
.loop:
    add r1, 1
    st [small], r1          ; some small events first, flushed in batches of their own
    blt r1, 40, .loop
    mov r2, 0xFFFFFFFFFFFFFFFF
    st [big], r2
    ld r3, [big]
    mov r2, 0x8000000000000000
    st [big], r2
    xadd r4, [big], 1
    halt
""")
    run = tracer.record(folder, tmp_path / "r", checkpoint_every=20, show=["big"])
    big = next(r["addr"] for r in run.table("symbols.parquet").to_pylist() if r["name"] == "big")
    got = [(e["kind"], e["old"], e["new"]) for e in run.events().to_pylist() if e["addr"] == big]
    assert got == [("write", 0, 2**64 - 1), ("read", 0, 2**64 - 1), ("write", 2**64 - 1, 2**63),
                   ("rmw", 2**63, 2**63 + 1)]
    assert run.meta["memory"] == {"big": 2**63 + 1}
    # the switch that puts T on its core has old = -1 (idle) as an unsigned word
    assert run.events().to_pylist()[0]["old"] == 2**64 - 1
    seq = run.meta["events"] - 2
    assert tr.replayed_state(tracer.replay(run, seq, show=["big", "small"])) == \
        tr.reference_state(run.meta, seq, ["big", "small"])
