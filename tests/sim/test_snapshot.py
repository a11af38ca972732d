"""Snapshot and restore: pausing at a scheduling decision, continuing, and restoring into a fresh
System of the same scenario and options, give exactly the rest of the run."""

from __future__ import annotations

import pytest

from sim import snapshot_codec
from sim.scenario import RunOptions, load_scenario
from sim.slow_ops import TIMER_MESSAGE
from sim.system import System

LOCKS = """
.include "kernel.inc"
.word lock, 0
.word counter, 0
.word plain, 0
.word done, 0
worker:
    mov r1, 25
.loop:
    spin_lock [lock]
    ld r2, [counter]
    add r2, 1
    st [counter], r2
    spin_unlock [lock]
    ld r3, [plain]
    add r3, 1
    st [plain], r3
    push r3
    call helper
    pop r3
    sub r1, 1
    jnz r1, .loop
    xadd r4, [done], 1
    beq r4, 2, .last
    halt
.last:
    wake T3
    halt
helper:
    delay 3
    mov r6, r3
    and r6, 7
    jnz r6, .out
    yield
.out:
    ret
sleeper:
    sleep
    msleep 20
    ld r5, [counter]
    halt
"""
LOCKS_KW = {"threads": ["worker", "worker", "worker", "sleeper"], "cores": 2, "timeslice": 40}

NET_TOML = """
[[links]]
a = "client"
b = "server"
latency = 37

[ports]
req = "server"
resp = "client"
"""
CLIENT = """
.word acked, 0
client:
    mov r1, 12
.l:
    send req, r1, 100
    st [acked], r1
    sub r1, 1
    jnz r1, .l
    mov r1, 12
.r:
    recv resp, r2, r3
    ld r4, [acked]
    add r4, r2
    st [acked], r4
    sub r1, 1
    jnz r1, .r
    halt
"""
SERVER = """
.word served, 0
server:
    recv req, r1, r2
    add r3, r1, r2
    xadd r4, [served], 1
    send resp, r3
    jmp server
"""
NET_KW = {"machines": {"client": {"cores": 1, "source": CLIENT}, "server": {"cores": 2, "source": SERVER}},
          "threads": [{"entry": "client", "machine": "client"},
                      {"entry": "server", "machine": "server", "daemon": True},
                      {"entry": "server", "machine": "server", "daemon": True}],
          "extra_toml": NET_TOML}


def full_run(rig, folder, **options):
    log = rig.EventLog()
    system = rig.build(folder, log, **options)
    outcome = system.run()
    return system, outcome, log


def state_of(system):
    return (system.outcome.as_dict(), system.instructions, system.cycle, [m.mem[:] for m in system.machines],
            [(t.regs[:], t.pc, t.state) for t in system.threads])


def check_split(rig, folder, points, **options):
    """For each pause point: continue in place, and restore into a fresh System; both must match
    the uninterrupted run. Returns the snapshots' systems' states for extra checks."""
    ref_system, ref_outcome, ref_log = full_run(rig, folder, **options)
    assert ref_outcome.outcome in ("completed", "panic", "deadlock", "step_limit")
    ref = state_of(ref_system)
    ref_events = ref_log.tuples()
    paused_states = []
    for n in points:
        log = rig.EventLog()
        system = rig.build(folder, log, **options)
        result = system.run(pause_at=n)
        k = len(log.events)
        assert log.tuples() == ref_events[:k]
        if result is not None:  # the run ended before the point
            assert n > ref_outcome.instructions - 1 or system.outcome is not None
        else:
            assert system.instructions >= n
        blob = system.snapshot()
        paused_states.append(snapshot_codec.decode(blob))

        # a) restore into a fresh System (with an observer) and run on
        fresh_log = rig.EventLog()
        fresh = rig.build(folder, fresh_log, **options)
        fresh.restore(blob)
        assert snapshot_codec.decode(fresh.snapshot()) == snapshot_codec.decode(blob)
        fresh.run()
        assert fresh_log.tuples() == ref_events[k:], f"events differ after a restore at {n}"
        assert state_of(fresh) == ref

        # b) restore into a fresh System without an observer
        plain = rig.build(folder, None, **options)
        plain.restore(blob)
        plain.run()
        assert state_of(plain) == ref

        # c) continue the paused System itself
        system.run()
        assert log.tuples() == ref_events
        assert state_of(system) == ref

        # d) rewind the finished System to the snapshot and run again
        system.restore(blob)
        system.run()
        assert state_of(system) == ref
    return ref_outcome, paused_states


def points(total: int, count: int = 25) -> list[int]:
    step = max(1, total // count)
    return sorted(set([0, 1, 2, 3] + list(range(5, total + 10, step)) + [total - 1, total, total + 5]))


@pytest.mark.parametrize("sched", ["random", "pct", "roundrobin"])
@pytest.mark.parametrize("model", ["sc", "tso"])
def test_snapshot_restore_locks(rig, sched, model):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    for seed in (3,):
        options = {"seed": seed, "sched": sched, "memory_model": model, "depth": 4}
        total = full_run(rig, folder, **options)[1].instructions
        outcome, states = check_split(rig, folder, points(total, 30), **options)
        assert outcome.outcome == "completed"
        if model == "tso":
            # some snapshots caught stores still in a buffer
            assert any(any(c[4] for c in st["cores"]) for st in states)


def test_snapshots_catch_sleeping_and_delayed_threads(rig):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    _, states = check_split(rig, folder, points(full_run(rig, folder)[1].instructions, 40))
    assert any(st["timers"] for st in states)  # a delay or msleep was pending


def test_snapshot_restore_with_messages_in_flight(rig):
    folder = rig.scenario(**NET_KW)
    for seed, model in ((0, "sc"), (1, "tso"), (2, "sc")):
        options = {"seed": seed, "memory_model": model}
        total = full_run(rig, folder, **options)[1].instructions
        outcome, states = check_split(rig, folder, points(total, 30), **options)
        assert outcome.outcome == "completed"
        in_flight = [st for st in states if any(t[2] == TIMER_MESSAGE for t in st["timers"])]
        assert in_flight, "no snapshot had a message in flight"
        queued = [st for st in states if any(q for q, _ in st["network"][1])]
        waiting = [st for st in states if any(w for _, w in st["network"][1])]
        assert queued or waiting


def test_snapshot_restore_at_every_decision_of_a_small_run(rig):
    folder = rig.scenario(LOCKS, threads=["worker", "worker", "worker", "sleeper"], cores=3, timeslice=15)
    options = {"seed": 11, "memory_model": "tso"}
    total = full_run(rig, folder, **options)[1].instructions
    check_split(rig, folder, list(range(0, min(total, 400), 11)), **options)


@pytest.mark.parametrize("name, cores", [("race_counter_asm", 2), ("locked_counter", 4), ("sb", 2), ("mp", 2)])
def test_snapshot_restore_bundled(rig, name, cores):
    folder = load_scenario(name).folder
    for seed, model in ((0, "sc"), (1, "tso")):
        options = {"seed": seed, "cores": cores, "memory_model": model}
        total = full_run(rig, folder, **options)[1].instructions
        check_split(rig, folder, points(total, 10), **options)


def test_snapshot_before_the_first_run(rig):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    ref_system, _ref_outcome, ref_log = full_run(rig, folder, seed=5)
    system = rig.build(folder, None, seed=5)
    blob = system.snapshot()  # not booted: no thread placed yet
    log = rig.EventLog()
    fresh = rig.build(folder, log, seed=5)
    fresh.restore(blob)
    fresh.run()
    assert log.tuples() == ref_log.tuples()
    assert state_of(fresh) == state_of(ref_system)


def test_snapshot_after_the_end(rig):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    system, outcome, _ = full_run(rig, folder, seed=2)
    blob = system.snapshot()
    fresh = rig.build(folder, None, seed=2)
    fresh.restore(blob)
    assert fresh.run().as_dict() == outcome.as_dict()
    assert state_of(fresh) == state_of(system)


def test_snapshot_of_a_panicked_and_a_step_limited_run(rig):
    source = """
    .word x, 0
    main:
        mov r1, 40
    .l:
        xadd r2, [x], 1
        sub r1, 1
        jnz r1, .l
        bug "the end"
    spin:
        add r3, 1
        jmp spin
    """
    folder = rig.scenario(source, threads=["main", {"entry": "spin", "daemon": True}], cores=2)
    outcome, _ = check_split(rig, folder, list(range(0, 200, 9)), seed=1)
    assert outcome.outcome == "panic"
    folder = rig.scenario(source, threads=["spin", "spin"], cores=2)
    outcome, _ = check_split(rig, folder, list(range(0, 600, 37)), seed=1, step_limit=555)
    assert outcome.outcome == "step_limit" and outcome.instructions == 555


def test_pause_stops_at_a_decision_and_resumes_without_a_cut(rig):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    ref_system, _ref_outcome, _ = full_run(rig, folder, seed=9)
    system = rig.build(folder, None, seed=9)
    stops = []
    n = 0
    while system.run(pause_at=n) is None:
        stops.append(system.instructions)
        assert system.instructions >= n
        n = system.instructions + 13
    assert len(stops) > 20
    assert stops == sorted(stops)
    assert state_of(system) == state_of(ref_system)


def test_restore_needs_the_same_scenario_and_options_but_not_the_same_object(rig):
    folder = rig.scenario(LOCKS, **LOCKS_KW)
    a = System(load_scenario(folder), RunOptions(seed=4, memory_model="tso"))
    a.run(pause_at=150)
    blob = a.snapshot()
    a.run()
    b = System(load_scenario(folder), RunOptions(seed=4, memory_model="tso"))
    b.restore(blob)
    b.run()
    assert state_of(a) == state_of(b)
