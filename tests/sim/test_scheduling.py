"""Schedulers and preemption: determinism, seeds, PCT depth, time slices, blocking and endings."""

from __future__ import annotations

import itertools

import pytest

from sim.isa import MASK64
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from sim.thread import BLOCKED, EXITED, READY

# Three kernel threads on two cores: a spinlock, plain racy increments, a sleep/wake handshake
# and a message, so that interleavings show in the events.
MIX = """
.include "kernel.inc"
.word lock, 0
.word counter, 0
.word plain, 0
.word done, 0

worker:
    mov r1, 20
.loop:
    spin_lock [lock]
    ld r2, [counter]
    add r2, 1
    st [counter], r2
    spin_unlock [lock]
    ld r3, [plain]
    add r3, 1
    st [plain], r3
    sub r1, 1
    jnz r1, .loop
    xadd r4, [done], 1
    beq r4, 1, .last
    halt
.last:
    wake T2
    halt

waiter:
    sleep
    send p, 1
    recv p, r5
    ld r6, [counter]
    halt
"""
MIX_THREADS = ["worker", "worker", "waiter"]
MIX_KW = {"threads": MIX_THREADS, "cores": 2, "extra_toml": '[ports]\np = "host"\n', "timeslice": 30}


def events(rig, source=MIX, options=None, **kw):
    """(outcome dict, full event tuples, final memory) of one observed run."""
    kw = {**MIX_KW, **kw} if source is MIX else kw
    system = rig.system(source, observe=True, options=options, **kw)
    outcome = system.run()
    assert not system.observer.violations, system.observer.violations[:3]
    return outcome.as_dict(), system.observer.tuples(), rig.memory(system)


def interleaving(evs) -> list[tuple]:
    """What a schedule decides: who did what, in which order (cycles left out)."""
    return [(e[1], e[2], e[3], e[4], e[5], e[6], e[7]) for e in evs]


# ---------------------------------------------------------------------------------------------
# Determinism and seeds

@pytest.mark.parametrize("sched", ["random", "pct", "roundrobin"])
@pytest.mark.parametrize("model", ["sc", "tso"])
def test_same_seed_same_events(rig, sched, model):
    folder = rig.scenario(MIX, **MIX_KW)
    for seed in (0, 1, 7, 123):
        runs = []
        for _ in range(2):
            log = rig.EventLog()
            system = rig.build(folder, log, seed=seed, sched=sched, memory_model=model)
            outcome = system.run()
            assert outcome.outcome == "completed", outcome
            runs.append((outcome.as_dict(), log.tuples(), rig.memory(system)))
        assert runs[0] == runs[1]
        counter = rig.build(folder).image.symbol("counter").addr
        assert runs[0][2][0][counter] == 40


@pytest.mark.parametrize("name, cores", [("race_counter_asm", 2), ("locked_counter", 4), ("sb", 2), ("mp", 2)])
def test_same_seed_same_events_on_bundled_scenarios(rig, name, cores):
    sc = load_scenario(name)
    for model in ("sc", "tso"):
        for seed in (0, 5):
            runs = []
            for _ in range(2):
                log = rig.EventLog()
                system = System(sc, RunOptions(seed=seed, cores=cores, memory_model=model), observer=log)
                runs.append((system.run().as_dict(), log.tuples(), rig.memory(system)))
            assert runs[0] == runs[1]


@pytest.mark.parametrize("sched", ["random", "pct"])
def test_different_seeds_different_interleavings(rig, sched):
    seqs = [interleaving(events(rig, options={"seed": seed, "sched": sched})[1]) for seed in range(8)]
    distinct = {tuple(s) for s in seqs}
    assert len(distinct) >= 4, f"only {len(distinct)} distinct interleavings over 8 seeds"


def test_different_seeds_change_outcomes_not_just_order(rig):
    # plain increments race on two cores: the final `plain` differs between seeds
    finals = set()
    for seed in range(12):
        system = rig.system(MIX, options={"seed": seed}, **MIX_KW)
        system.run()
        assert system.read_symbol("counter") == 40  # the locked one never loses an update
        finals.add(system.read_symbol("plain"))
    assert len(finals) >= 2


def test_roundrobin_ignores_the_seed(rig):
    runs = [events(rig, options={"seed": seed, "sched": "roundrobin"}) for seed in (0, 1, 2, 99, 12345)]
    assert all(r == runs[0] for r in runs)


RR_LOOPS = """
.word a, 0
.word b, 0
pa:
    mov r1, 60
.l:
    st [a], r1
    sub r1, 1
    jnz r1, .l
    halt
pb:
    mov r1, 60
.l:
    st [b], r1
    sub r1, 1
    jnz r1, .l
    halt
"""


def _turns(rig, quantum, timeslice):
    """Lengths of the runs of consecutive writes by one core, while both threads are alive."""
    _, evs, _ = events(rig, RR_LOOPS, options={"sched": "roundrobin", "quantum": quantum},
                       threads=["pa", "pb"], cores=2, timeslice=timeslice)
    first_exit = next(i for i, e in enumerate(evs) if e[4] == "exit")
    order = [e[2] for e in evs[:first_exit] if e[4] == "write"]
    runs = []
    for core in order:
        if runs and runs[-1][0] == core:
            runs[-1][1] += 1
        else:
            runs.append([core, 1])
    return [n for _, n in runs]


@pytest.mark.parametrize("quantum", [1, 3, 16])
def test_roundrobin_takes_turns_by_quantum(rig, quantum):
    # a loop iteration is 3 instructions with one write: a turn of `quantum` instructions holds
    # at most ceil(quantum / 3) + 1 writes, and the two cores alternate
    runs = _turns(rig, quantum, timeslice=100_000)
    assert max(runs) <= -(-quantum // 3) + 1
    assert len(runs) >= 2 * 55 // (-(-quantum // 3) + 1)


@pytest.mark.parametrize("quantum", [1, 3, 16])
def test_roundrobin_takes_turns_after_time_slices_expire(rig, quantum):
    runs = _turns(rig, quantum, timeslice=50)
    assert max(runs) <= -(-quantum // 3) + 1


def test_roundrobin_is_fair_between_two_busy_cores(rig):
    source = "spin:\n    add r1, 1\n    jmp spin\n"
    system, outcome = rig.run(source, threads=[{"entry": "spin", "daemon": True}, {"entry": "spin"}], cores=2,
                              timeslice=100, options={"sched": "roundrobin", "quantum": 10, "step_limit": 4000})
    assert outcome.outcome == "step_limit"
    counts = [t.regs[1] for t in system.threads]
    assert abs(counts[0] - counts[1]) <= 10, counts


def test_roundrobin_lock_holder_is_not_starved(rig):
    # the holder's core stops being scheduled once its slice expires, while the other core
    # spins on the lock forever
    source = """
    .word lock, 0
    .word counter, 0
    holder:
        spin_lock [lock]
        mov r1, 50
    .l:
        sub r1, 1
        jnz r1, .l
        spin_unlock [lock]
        halt
    waiter:
        spin_lock [lock]
        xadd r2, [counter], 1
        spin_unlock [lock]
        halt
    """
    system, outcome = rig.run(source, threads=[{"entry": "holder", "cores": [0]}, {"entry": "waiter", "cores": [1]}],
                              cores=2, timeslice=40, options={"sched": "roundrobin", "quantum": 4, "step_limit": 20_000})
    assert outcome.outcome == "completed", outcome
    assert system.read_symbol("counter") == 1


def test_random_scheduler_is_roughly_fair_between_two_busy_cores(rig):
    source = "spin:\n    add r1, 1\n    jmp spin\n"
    for seed in range(3):
        system, _outcome = rig.run(source, threads=[{"entry": "spin", "daemon": True}, {"entry": "spin"}], cores=2,
                                  timeslice=100, options={"seed": seed, "step_limit": 20_000})
        counts = [t.regs[1] for t in system.threads]
        assert min(counts) > 0.35 * sum(counts), counts


def test_pct_is_deterministic_and_depth_matters(rig):
    folder = rig.scenario(MIX, pct_steps=300, **MIX_KW)

    def run(seed, depth):
        log = rig.EventLog()
        system = rig.build(folder, log, seed=seed, sched="pct", depth=depth)
        assert system.run().outcome == "completed"
        return interleaving(log.tuples())

    for seed in range(4):
        assert run(seed, 3) == run(seed, 3)
    differs = [seed for seed in range(8) if run(seed, 1) != run(seed, 4)]
    assert differs, "--depth never changed the schedule"
    # depth 1 has no change points: the seed only picks the priorities (3! orders at most)
    assert len({tuple(run(seed, 1)) for seed in range(12)}) <= 6


def test_pct_priorities_run_one_thread_at_a_time(rig):
    # depth 1: the highest-priority thread runs until it blocks or ends, so the two loops'
    # writes do not interleave (apart from the spin-wait rule, which does not apply here)
    source = """
    .word a, 0
    .word b, 0
    pa:
        mov r1, 30
    .l:
        st [a], r1
        sub r1, 1
        jnz r1, .l
        halt
    pb:
        mov r1, 30
    .l:
        st [b], r1
        sub r1, 1
        jnz r1, .l
        halt
    """
    firsts = set()
    for seed in range(6):
        _, evs, _ = events(rig, source, options={"sched": "pct", "depth": 1, "seed": seed},
                           threads=["pa", "pb"], cores=2)
        writers = [e[3] for e in evs if e[4] == "write"]
        assert writers in ([0] * 30 + [1] * 30, [1] * 30 + [0] * 30)
        firsts.add(writers[0])
    assert firsts == {0, 1}  # the seed picks the priorities


def test_pct_spinning_thread_lets_lower_priorities_run(rig):
    source = """
    .word flag, 0
    spinner:
        ld r1, [flag]
        jnz r1, .done
        pause
        jmp spinner
    .done:
        halt
    setter:
        mov r2, 50
    .l:
        sub r2, 1
        jnz r2, .l
        st [flag], 1
        halt
    """
    for seed in range(10):
        for depth in (1, 2, 3):
            system = rig.system(source, threads=["spinner", "setter"], cores=2,
                                options={"sched": "pct", "depth": depth, "seed": seed, "step_limit": 20_000})
            outcome = system.run()
            assert outcome.outcome == "completed", (seed, depth, outcome)


# ---------------------------------------------------------------------------------------------
# Preemption

TWO_LOOPS = """
.word a, 0
.word b, 0
pa:
    mov r1, 200
.l:
    st [a], r1
    sub r1, 1
    jnz r1, .l
    halt
pb:
    mov r1, 200
.l:
    st [b], r1
    sub r1, 1
    jnz r1, .l
    halt
"""


def writer_changes(evs) -> int:
    writers = [e[3] for e in evs if e[4] == "write"]
    return sum(1 for x, y in itertools.pairwise(writers) if x != y)


@pytest.mark.parametrize("kind", ["kernel", "user"])
def test_full_preemption_time_slices_one_core(rig, kind):
    for seed in range(3):
        _, evs, _ = events(rig, TWO_LOOPS, options={"seed": seed}, preemption="full", timeslice=50,
                           threads=[{"entry": "pa", "kind": kind}, {"entry": "pb", "kind": kind}])
        assert writer_changes(evs) >= 6  # 1200 instructions in slices of ~50
        switches = [e for e in evs if e[4] == "switch"]
        assert len(switches) >= 7


def test_voluntary_preemption_never_slices_kernel_threads(rig):
    for seed in range(3):
        _, evs, _ = events(rig, TWO_LOOPS, options={"seed": seed}, preemption="voluntary", timeslice=50,
                           threads=["pa", "pb"])
        assert writer_changes(evs) == 1
        assert [(e[6], e[7]) for e in evs if e[4] == "switch"] == [(MASK64, 0), (0, 1)]


def _switch_probe(log, ev):
    """At each switch away from a thread, note why the thread left: its state and the
    instruction it last executed (pc - 1) or stands on (pc)."""
    if ev.kind != "switch" or ev.old == MASK64:
        return
    system = log.system
    prev = system.threads[ev.old]
    code = system.machines[prev.machine].code
    last = code[prev.pc - 1].op if prev.pc > 0 else None
    here = code[prev.pc].op if prev.pc < len(code) else None
    log.why = getattr(log, "why", [])
    log.why.append((ev.old, prev.state, last, here, prev.preempt, prev.in_kernel))


def _run_with_probe(rig, source, **kw):
    log = rig.EventLog(on_event=_switch_probe)
    system = rig.system(source, observer=log, **kw)
    outcome = system.run()
    assert not log.violations
    return system, outcome, log


def _voluntary(why) -> bool:
    _tid, state, last, _here, _preempt, _in_kernel = why
    return state in (BLOCKED, EXITED) or last == "yield"


VOLUNTARY = """
.include "kernel.inc"
.word a, 0
.word b, 0
.word c, 0
kloop:
    mov r1, 150
.l:
    st [a], r1
    sub r1, 1
    jz r1, .out
    mov r2, r1
    and r2, 15
    jnz r2, .l
    cond_resched            ; every 16 iterations
    jmp .l
.out:
    halt
ksleeper:
    mov r1, 5
.l:
    st [b], r1
    sleep
    sub r1, 1
    jnz r1, .l
    halt
kwaker:
    mov r1, 400
.l:
    st [c], r1
    mov r2, r1
    and r2, 63
    jnz r2, .skip
    wake ksleeper_t
.skip:
    sub r1, 1
    jnz r1, .l
    wake ksleeper_t
    mov r1, 200
.w:
    wake ksleeper_t
    yield
    sub r1, 1
    jnz r1, .w
    halt
"""


def test_voluntary_kernel_threads_switch_only_at_yield_sleep_or_exit(rig):
    threads = ["kloop", {"entry": "ksleeper", "name": "ksleeper_t"}, "kwaker"]
    total_switches = 0
    for seed in range(6):
        _, outcome, log = _run_with_probe(rig, VOLUNTARY, threads=threads, preemption="voluntary",
                                          timeslice=10, options={"seed": seed})
        assert outcome.outcome == "completed", outcome
        assert all(_voluntary(w) for w in log.why), [w for w in log.why if not _voluntary(w)][:3]
        total_switches += len(log.why)
    assert total_switches >= 6 * 10
    # the same program under full preemption is also sliced at other instructions
    involuntary = 0
    for seed in range(6):
        _system, outcome, log = _run_with_probe(rig, VOLUNTARY, threads=threads, preemption="full",
                                               timeslice=10, options={"seed": seed})
        involuntary += sum(not _voluntary(w) for w in log.why)
    assert involuntary > 0


USER_AND_KERNEL = """
.word a, 0
.word b, 0
.word inside, 0
user:
    mov r1, 300
.l:
    st [a], r1
    mov r2, r1
    and r2, 31
    jnz r2, .skip
    kernel_enter            ; a system call: 12 instructions that are not preemptible
    st [inside], 1
    mov r3, 10
.k:
    sub r3, 1
    jnz r3, .k
    st [inside], 0
    kernel_exit
.skip:
    sub r1, 1
    jnz r1, .l
    halt
kthread:
    mov r1, 300
.l:
    st [b], r1
    sub r1, 1
    jnz r1, .l
    yield
    jmp kthread
"""


def test_voluntary_still_preempts_user_mode(rig):
    threads = [{"entry": "user", "kind": "user"}, {"entry": "kthread", "daemon": True}]
    preempted_in_user_mode = 0
    for seed in range(6):
        _system, outcome, log = _run_with_probe(rig, USER_AND_KERNEL, threads=threads, preemption="voluntary",
                                               timeslice=7, options={"seed": seed})
        assert outcome.outcome == "completed"
        for tid, state, last, here, preempt, in_kernel in log.why:
            if tid == 0 and state == READY:
                assert not in_kernel, "a user thread was preempted inside the kernel under voluntary preemption"
                preempted_in_user_mode += 1
            if tid == 1:
                assert _voluntary((tid, state, last, here, preempt, in_kernel))
    assert preempted_in_user_mode > 0


PREEMPT_REGIONS = """
.word a, 0
.word b, 0
pa:
    mov r1, 100
.l:
    preempt_disable
    st [a], 1
    mov r2, 7
.in:
    sub r2, 1
    jnz r2, .in
    st [a], 0
    preempt_enable
    sub r1, 1
    jnz r1, .l
    halt
pb:
    mov r1, 100
.l:
    preempt_disable
    st [b], 1
    mov r2, 7
.in:
    sub r2, 1
    jnz r2, .in
    st [b], 0
    preempt_enable
    sub r1, 1
    jnz r1, .l
    halt
"""


def _regions_interleaved(system, log) -> int:
    """How many times another thread's event falls inside a thread's [st 1 .. st 0] region."""
    a, b = system.image.symbol("a").addr, system.image.symbol("b").addr
    inside = {0: False, 1: False}
    bad = 0
    for e in log.events:
        if e.thread in inside and any(inside[t] for t in inside if t != e.thread):
            bad += 1
        if e.kind == "write" and e.addr in (a, b):
            inside[e.thread] = e.new == 1
    return bad


@pytest.mark.parametrize("kind", ["kernel", "user"])
def test_preempt_disable_regions_are_never_interleaved_on_one_core(rig, kind):
    threads = [{"entry": "pa", "kind": kind}, {"entry": "pb", "kind": kind}]
    switches = 0
    for seed in range(8):
        system, outcome, log = _run_with_probe(rig, PREEMPT_REGIONS, threads=threads, preemption="full",
                                               timeslice=5, options={"seed": seed})
        assert outcome.outcome == "completed"
        assert _regions_interleaved(system, log) == 0
        for tid, state, last, here, preempt, in_kernel in log.why:
            assert preempt == 0
        switches += len(log.why)
    assert switches >= 8 * 20  # time slicing did happen, between the regions
    # the control: without preempt_disable the same regions do get cut
    cut = 0
    for seed in range(8):
        source = PREEMPT_REGIONS.replace("preempt_disable", "nop").replace("preempt_enable", "nop")
        system, outcome, log = _run_with_probe(rig, source, threads=threads, preemption="full", timeslice=5,
                                               options={"seed": seed})
        cut += _regions_interleaved(system, log)
    assert cut > 0


def test_spinlock_sections_are_never_interleaved_on_one_core(rig):
    # each thread has its own lock: on one core the sections still never overlap (spin_lock
    # disables preemption), on two cores they do
    pa, pb = PREEMPT_REGIONS.split("pb:")
    source = (".word lk, 0\n.word lk2, 0\n"
              + pa.replace("preempt_disable", "spin_lock [lk]").replace("preempt_enable", "spin_unlock [lk]")
              + "pb:" + pb.replace("preempt_disable", "spin_lock [lk2]").replace("preempt_enable", "spin_unlock [lk2]"))
    threads = ["pa", "pb"]
    for seed in range(6):
        system, outcome, log = _run_with_probe(rig, source, threads=threads, preemption="full", timeslice=5,
                                               options={"seed": seed})
        assert outcome.outcome == "completed", outcome
        assert _regions_interleaved(system, log) == 0
    # on two cores they run in parallel and do overlap
    overlaps = 0
    for seed in range(6):
        system, outcome, log = _run_with_probe(rig, source, threads=threads, preemption="full", timeslice=5,
                                               cores=2, options={"seed": seed})
        overlaps += _regions_interleaved(system, log)
    assert overlaps > 0


def test_threads_stay_on_their_allowed_cores(rig):
    source = TWO_LOOPS + "pc:\n    cpu r5\n    yield\n    cpu r6\n    halt\n"
    for seed in range(4):
        system = rig.system(source, cores=3, observe=True, options={"seed": seed}, timeslice=20,
                            threads=[{"entry": "pa", "cores": [2]}, {"entry": "pb", "cores": [2]},
                                     {"entry": "pc", "cores": [0, 1]}])
        assert system.run().outcome == "completed"
        assert {e.core for e in system.observer.events if e.thread in (0, 1)} == {2}
        assert system.threads[2].regs[5] in (0, 1) and system.threads[2].regs[6] in (0, 1)


def test_cores_option_applies_to_the_primary_machine_only(rig):
    source = "worker:\n    halt\n"
    machines = {"a": {"cores": 2, "source": source}, "b": {"cores": 3, "source": source},
                "c": {"cores": 1, "fixed_cores": True, "source": source}}
    threads = [{"entry": "worker", "machine": m} for m in "abc"]
    folder = rig.scenario(machines=machines, threads=threads)
    assert [len(m.cores) for m in rig.build(folder).machines] == [2, 3, 1]
    assert [len(m.cores) for m in rig.build(folder, cores=5).machines] == [5, 3, 1]
    folder = rig.scenario(machines=machines, threads=threads, primary="c")
    assert [len(m.cores) for m in rig.build(folder, cores=5).machines] == [2, 3, 1]  # c's cores are fixed
    folder = rig.scenario(machines=machines, threads=threads, primary="b")
    system = rig.build(folder, cores=4)
    assert [len(m.cores) for m in system.machines] == [2, 4, 1]
    assert system.run().outcome == "completed"


def test_blocked_threads_never_run(rig):
    # EventLog flags any event reported by a thread that is not RUNNING
    for seed in range(10):
        system = rig.system(VOLUNTARY, threads=["kloop", {"entry": "ksleeper", "name": "ksleeper_t"}, "kwaker"],
                            cores=2, observe=True, options={"seed": seed}, timeslice=10)
        assert system.run().outcome == "completed"
        assert not system.observer.violations
        # and the sleeper's writes only ever follow a wake-up
        log = system.observer
        wakes_before = 0
        sleeps = 0
        for e in log.events:
            if e.kind == "wake" and e.sync == 1:
                wakes_before += 1
            if e.kind == "sleep" and e.thread == 1:
                sleeps += 1
                assert wakes_before >= sleeps


# ---------------------------------------------------------------------------------------------
# Endings

def test_deadlock_lists_the_blocked_threads(rig):
    source = """
    .word x, 0
    a:
        st [x], 1
        sleep
        halt
    b:
        sleep
        halt
    c:
        halt
    """
    for cores in (1, 2):
        system, outcome = rig.run(source, threads=["a", "b", "c", {"entry": "b", "daemon": True}], cores=cores)
        assert outcome.outcome == "deadlock"
        assert outcome.blocked == ["T0: sleep at main.s:5 (a)", "T1: sleep at main.s:8 (b)"]
        assert outcome.as_dict()["blocked"] == outcome.blocked
        assert outcome.panic is None
        assert system.read_symbol("x") == 1


def test_abba_spinlocks_end_as_a_deadlock_with_the_cycle(rig):
    source = """
    .word la, 0
    .word lb, 0
    ab:
        spin_lock [la]
        delay 50
        spin_lock [lb]
        halt
    ba:
        spin_lock [lb]
        delay 50
        spin_lock [la]
        halt
    """
    _system, outcome = rig.run(source, threads=["ab", "ba"], cores=2, options={"step_limit": 5000})
    assert outcome.outcome == "deadlock"
    assert outcome.instructions < 5000
    # who waits for which lock where, held by whom since where
    assert sorted(outcome.blocked) == [
        "T0 waits for lb at main.s:7 (ab), held by T1 (taken at main.s:10 (ba))",
        "T1 waits for la at main.s:12 (ba), held by T0 (taken at main.s:5 (ab))"]
    assert {c["waits_for"] for c in outcome.cycle} == {"la", "lb"}


def test_a_spinner_on_a_lock_held_by_a_sleeper_nobody_wakes_is_a_deadlock(rig):
    source = """
    .word lk, 0
    .word gate, 0
    sleeper:
        test_and_set_bit_lock r1, 0, [lk]
        sleep
        halt
    spinner:
        delay 20
        spin_lock [lk]
        halt
    """
    _system, outcome = rig.run(source, threads=["sleeper", "spinner"], cores=2, options={"step_limit": 5000})
    assert outcome.outcome == "deadlock"
    assert outcome.blocked == ["T1 waits for lk at main.s:10 (spinner), held by T0 (taken at main.s:5 (sleeper))",
                               "T0 sleeps at main.s:6 (sleeper) and nothing is left to wake it"]


@pytest.mark.parametrize("limit", [1, 2, 33, 1000, 4321])
@pytest.mark.parametrize("observe", [False, True])
def test_step_limit_is_exact(rig, limit, observe):
    source = """
    .word x, 0
    spin:
        add r1, 1
        st [x], r1
        jmp spin
    yielder:
        add r1, 1
        yield
        jmp yielder
    """
    for seed in range(3):
        system, outcome = rig.run(source, threads=["spin", "spin", "yielder"], cores=2, observe=observe,
                                  options={"seed": seed, "step_limit": limit})
        assert outcome.outcome == "step_limit"
        assert outcome.instructions == limit
        assert outcome.cycles >= limit // 2
        assert sum(t.regs[1] for t in system.threads) <= limit


def test_step_limit_from_the_scenario(rig):
    _system, outcome = rig.run("main:\n    jmp main\n", step_limit=777)
    assert (outcome.outcome, outcome.instructions, outcome.cycles) == ("step_limit", 777, 777)


def test_daemons_do_not_hold_the_run(rig):
    source = """
    .word x, 0
    main:
        mov r1, 100
    .l:
        sub r1, 1
        jnz r1, .l
        halt
    ticker:
        xadd r2, [x], 1
        msleep 10
        jmp ticker
    server:
        recv p, r1
        jmp server
    spinner:
        pause
        jmp spinner
    """
    threads = ["main", {"entry": "ticker", "daemon": True}, {"entry": "server", "daemon": True},
               {"entry": "spinner", "daemon": True}]
    for seed in range(4):
        system, outcome = rig.run(source, threads=threads, cores=2, extra_toml='[ports]\np = "host"\n',
                                  options={"seed": seed})
        assert outcome.outcome == "completed"
        assert system.threads[0].state == EXITED


def test_completed_when_all_threads_exit(rig):
    system, outcome = rig.run(MIX, **MIX_KW)
    assert outcome.outcome == "completed"
    assert all(t.state == EXITED for t in system.threads)
    assert system.read_symbol("counter") == 40
    assert system.threads[2].regs[5] == 1  # the waiter got its own message back


# ---------------------------------------------------------------------------------------------
# The observer changes nothing

OBSERVED_CASES = [
    ("mix", None, {}),
    ("voluntary", None, {"preemption": "voluntary", "timeslice": 10}),
    ("regions", None, {"timeslice": 5}),
]


def _plain_and_observed(folder, **options):
    plain = System(load_scenario(folder), RunOptions(**options))
    observed = System(load_scenario(folder), RunOptions(**options), observer=_Null())
    a, b = plain.run().as_dict(), observed.run().as_dict()
    return (a, [m.mem for m in plain.machines], [t.regs for t in plain.threads]), \
           (b, [m.mem for m in observed.machines], [t.regs for t in observed.threads])


class _Null:
    def attach(self, system):
        pass

    def event(self, *args):
        pass


@pytest.mark.parametrize("model", ["sc", "tso"])
@pytest.mark.parametrize("sched", ["random", "pct", "roundrobin"])
def test_plain_and_observed_runs_agree(rig, model, sched):
    folders = [
        rig.scenario(MIX, **MIX_KW),
        rig.scenario(VOLUNTARY, threads=["kloop", {"entry": "ksleeper", "name": "ksleeper_t"}, "kwaker"], cores=2,
                     preemption="voluntary", timeslice=10),
        rig.scenario(PREEMPT_REGIONS, threads=["pa", "pb"], timeslice=5),
    ]
    seeds = range(12) if sched != "roundrobin" else range(2)
    for folder in folders:
        for seed in seeds:
            a, b = _plain_and_observed(folder, seed=seed, sched=sched, memory_model=model)
            assert a == b, (folder.name, seed)


@pytest.mark.parametrize("name, cores", [("race_counter_asm", 1), ("race_counter_asm", 2), ("locked_counter", 4),
                                         ("sb", 2), ("mp", 2)])
def test_plain_and_observed_agree_on_bundled_scenarios(name, cores):
    folder = load_scenario(name).folder
    for model in ("sc", "tso"):
        for seed in range(15):
            a, b = _plain_and_observed(folder, seed=seed, cores=cores, memory_model=model)
            assert a == b, (name, model, seed)


def test_pct_change_point_drops_the_running_thread_below_every_other(rig):
    """PCT's mechanism itself: at the change point the running thread's priority drops below every
    other thread's, so each of the others runs to its end before it resumes. (Cutting the burst
    at the change point without the drop would let the same thread run on.)"""
    loop = """
    {name}:
        mov r1, 30
    .l:
        st [{word}], r1
        sub r1, 1
        jnz r1, .l
        halt
    """
    source = ".word a, 0\n.word b, 0\n.word c, 0\n" + "".join(
        loop.format(name=n, word=w) for n, w in (("pa", "a"), ("pb", "b"), ("pc", "c")))
    shapes = set()
    for seed in range(8):
        # one change point among the first 40 instructions: inside the first thread's 91
        _, evs, _ = events(rig, source, options={"sched": "pct", "depth": 2, "seed": seed},
                           threads=["pa", "pb", "pc"], cores=3, pct_steps=40)
        writers = [e[3] for e in evs if e[4] == "write"]
        runs = [(t, len(list(g))) for t, g in itertools.groupby(writers)]
        first, k = runs[0]
        # the first thread is cut at the change point, both others run whole, then it finishes
        assert len(runs) == 4, (seed, runs)
        assert 1 <= k < 30 and runs[3] == (first, 30 - k), (seed, runs)
        assert runs[1][1] == 30 and runs[2][1] == 30, (seed, runs)
        assert {runs[1][0], runs[2][0]} == {0, 1, 2} - {first}, (seed, runs)
        shapes.add((first, runs[1][0]))
    assert len(shapes) > 1  # the seed picks the priorities
