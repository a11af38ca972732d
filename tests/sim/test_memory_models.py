"""sc and x86-TSO: store buffers, forwarding, drains, and the litmus tests herd's x86 model decides."""

from __future__ import annotations

import textwrap

import pytest

from sim.compiler import STORE_BUFFER_CAPACITY
from sim.isa import ATOMIC_OPS

# One burst holds the whole program: no scheduling decision (and so no random drain) in between.
ONE_BURST = {"sched": "roundrobin", "quantum": 1000}


def line_of(source: str, needle: str) -> int:
    for i, line in enumerate(textwrap.dedent(source).split("\n"), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def lines(system, evs):
    return [system.image.sites[e.site].line for e in evs]


def test_sc_has_no_store_buffers(rig):
    system = rig.system("main:\n    halt\n", cores=2)
    assert all(c.sb is None for c in system.cores)
    system = rig.system("main:\n    halt\n", cores=2, options={"memory_model": "tso"})
    assert all(c.sb is not None and c.sb.entries == [] for c in system.cores)


def test_the_scenario_chooses_the_default_model(rig):
    folder = rig.scenario("main:\n    halt\n", memory_model="tso")
    assert rig.build(folder).tso
    assert not rig.build(folder, memory_model="sc").tso


FORWARD = """
.word x, 0
.word y, 0
main:
    st [x], 5
    ld r1, [x]          ; forwarded from the buffer
    st [x], 6
    st [x], 7
    ld r2, [x]          ; the newest buffered value
    ld r3, [y]          ; not buffered: from memory
    halt
"""


def test_store_to_load_forwarding(rig):
    mem_at_read = []

    def probe(log, ev):
        if ev.kind == "read":
            mem_at_read.append(log.system.machines[0].mem[ev.addr])

    log = rig.EventLog(on_event=probe)
    system = rig.system(FORWARD, observer=log, options={"memory_model": "tso", **ONE_BURST})
    assert system.run().outcome == "completed"
    regs = system.threads[0].regs
    assert (regs[1], regs[2], regs[3]) == (5, 7, 0)
    assert [e.new for e in log.of("read")] == [5, 7, 0]
    assert mem_at_read == [0, 0, 0]  # memory did not have the values yet: they came from the buffer
    # the stores reached memory in program order, when the thread exited
    assert [(e.old, e.new) for e in log.of("write")] == [(0, 5), (5, 6), (6, 7)]
    assert log.kinds().index("write") > max(i for i, k in enumerate(log.kinds()) if k == "read")
    assert system.read_symbol("x") == 7


def test_forwarding_over_many_seeds(rig):
    for seed in range(20):
        system, _outcome = rig.run(FORWARD, options={"memory_model": "tso", "seed": seed})
        regs = system.threads[0].regs
        assert (regs[1], regs[2], regs[3]) == (5, 7, 0)


def test_a_drained_store_is_reported_late_with_its_own_site(rig):
    source = """
    .word x, 0
    main:
        st [x], 1           ; the store
        nop
        nop
        nop
        fence               ; the drain
        halt
    """
    system, _outcome = rig.run(source, observe=True, options={"memory_model": "tso", **ONE_BURST})
    log = system.observer
    (write,) = log.of("write")
    (fence,) = log.of("fence")
    assert lines(system, [write, fence]) == [line_of(source, "the store"), line_of(source, "the drain")]
    assert write.cycle == fence.cycle == 4  # issued at cycle 0, visible at the fence
    assert log.kinds() == ["switch", "write", "fence", "exit"]
    assert not write.atomic


def test_tso_stores_are_reported_late_for_some_seeds(rig):
    source = """
    .word x, 0
    .word y, 0
    main:
        st [x], 1
        ld r1, [y]
        ld r1, [y]
        ld r1, [y]
        halt
    """
    late = 0
    for seed in range(20):
        system, outcome = rig.run(source, observe=True, options={"memory_model": "tso", "seed": seed})
        assert outcome.outcome == "completed"
        kinds = system.observer.kinds()
        late += kinds.index("write") > kinds.index("read")
        w = system.observer.of("write")[0]
        assert system.image.sites[w.site].line == line_of(source, "st [x]")
    assert late > 0
    # under sc the write always comes first
    for seed in range(5):
        system, _outcome = rig.run(source, observe=True, options={"memory_model": "sc", "seed": seed})
        kinds = system.observer.kinds()
        assert kinds.index("write") < kinds.index("read")


def test_fence_drains_the_buffer(rig):
    seen = []

    def probe(log, ev):
        if ev.kind == "fence":
            core = log.system.cores[0]
            seen.append(list(core.sb.entries))

    source = """
    .word a, 0
    .word b, 0
    main:
        st [a], 1
        st [b], 2
        st [a], 3
        fence
        st [b], 4
        halt
    """
    log = rig.EventLog(on_event=probe)
    system = rig.system(source, observer=log, options={"memory_model": "tso", **ONE_BURST})
    system.run()
    assert seen == [[]]
    kinds = log.kinds()
    assert kinds[:5] == ["switch", "write", "write", "write", "fence"]
    assert [e.new for e in log.of("write")] == [1, 2, 3, 4]
    # the store after the fence drains when the thread exits (it is reported after the exit)
    assert sorted(kinds[5:]) == ["exit", "write"]


ATOMIC_LINES = {
    "xchg": "xchg r1, [z], 1",
    "cas": "cas r1, [z], 0, 1",
    "xadd": "xadd r1, [z], 1",
    "test_and_set_bit": "test_and_set_bit r1, 0, [z]",
    "test_and_clear_bit": "test_and_clear_bit r1, 0, [z]",
    "set_bit": "set_bit 0, [z]",
    "clear_bit": "clear_bit 0, [z]",
    "test_and_set_bit_lock": "test_and_set_bit_lock r1, 0, [z]",
    "clear_bit_unlock": "clear_bit_unlock 0, [z]",
    "spin_lock": "spin_lock [z]",
    "spin_trylock": "spin_trylock r1, [z]",
    "spin_unlock": "spin_unlock [z]",
}


@pytest.mark.parametrize("op", sorted(ATOMIC_OPS))
def test_atomic_ops_drain_the_buffer_first(rig, op):
    assert set(ATOMIC_LINES) == set(ATOMIC_OPS)
    setup = "spin_lock [z]\n    " if op == "spin_unlock" else ""
    source = f"""
    .word a, 0
    .word b, 0
    .word z, 0
    main:
        {setup}st [a], 1
        st [b], 2
        {ATOMIC_LINES[op]}      ; the atomic
        st [a], 3
        halt
    """
    system, outcome = rig.run(source, observe=True, options={"memory_model": "tso", **ONE_BURST})
    assert outcome.outcome == "completed", outcome
    log = system.observer
    z = system.image.symbol("z").addr
    atomic_at = next(i for i, e in enumerate(log.events) if e.addr == z and e.site >= 0
                     and system.image.sites[e.site].line == line_of(source, "the atomic"))
    before = [(e.addr, e.new) for e in log.events[:atomic_at] if e.kind == "write" and e.addr != z]
    after = [(e.addr, e.new) for e in log.events[atomic_at:] if e.kind == "write" and e.addr != z]
    a, b = system.image.symbol("a").addr, system.image.symbol("b").addr
    assert before == [(a, 1), (b, 2)]
    assert after == [(a, 3)]
    assert log.events[atomic_at].atomic


def test_a_context_switch_drains_the_buffer(rig):
    source = """
    .word a, 0
    .word b, 0
    p0:
        st [a], 1
        yield
        halt
    p1:
        ld r1, [a]
        halt
    """
    for seed in range(10):
        system, _outcome = rig.run(source, threads=["p0", "p1"], observe=True, preemption="voluntary",
                                  options={"memory_model": "tso", "seed": seed})
        assert system.threads[1].regs[1] == 1
        assert not system.observer.violations  # EventLog checks: empty buffer at every switch
        kinds = system.observer.kinds()
        assert kinds.index("write") < kinds.index("switch", 1)


def test_store_buffer_capacity(rig):
    stores = "\n".join(f"    st [w{i}], {i + 1}" for i in range(12))
    data = "\n".join(f".word w{i}, 0" for i in range(12))
    source = f"{data}\n.word z, 0\nmain:\n{stores}\n    ld r1, [z]\n    halt\n"
    seen = []

    def probe(log, ev):
        if ev.kind == "read":
            seen.append(len(log.system.cores[0].sb.entries))

    log = rig.EventLog(on_event=probe)
    system = rig.system(source, observer=log, options={"memory_model": "tso", **ONE_BURST})
    system.run()
    assert seen == [STORE_BUFFER_CAPACITY]
    writes = [e.new for e in log.of("write")]
    assert writes == list(range(1, 13))  # FIFO
    first_read = log.kinds().index("read")
    assert sum(1 for k in log.kinds()[:first_read] if k == "write") == 12 - STORE_BUFFER_CAPACITY


def test_each_cores_stores_become_visible_in_program_order(rig):
    source = """
    .word a, 0
    .word b, 0
    .word c, 0
    writer:
        mov r1, 1
    .l:
        st [a], r1
        st [b], r1
        st [c], r1
        add r1, 1
        blt r1, 30, .l
        halt
    """
    for seed in range(10):
        system, _outcome = rig.run(source, threads=["writer", "writer"], cores=2, observe=True,
                                  options={"memory_model": "tso", "seed": seed})
        names = {s.addr: s.name for s in system.image.symbols}
        for t in (0, 1):
            mine = [(names[e.addr], e.new) for e in system.observer.of("write") if e.thread == t]
            expected = [(n, i) for i in range(1, 30) for n in ("a", "b", "c")]
            assert mine == expected


# ---------------------------------------------------------------------------------------------
# Litmus tests (herd's x86-TSO: SB allowed; SB+mfences, MP, LB, 2+2W, IRIW forbidden)

def outcomes(rig, source, threads, results, model, seeds=range(120), cores=None):
    folder = rig.scenario(source, threads=threads, cores=cores or len(threads))
    seen = {}
    for seed in seeds:
        system = rig.build(folder, seed=seed, memory_model=model)
        out = system.run()
        assert out.outcome == "completed", out
        key = tuple(system.read_symbol(r) for r in results)
        seen[key] = seen.get(key, 0) + 1
    return seen


SB = """
.word x, 0
.word y, 0
.word res0, 0
.word res1, 0
p0:
    st [x], 1
    FENCE
    ld r5, [y]
    st [res0], r5
    halt
p1:
    st [y], 1
    FENCE
    ld r5, [x]
    st [res1], r5
    halt
"""


def test_sb_relaxed_only_under_tso(rig):
    sc = outcomes(rig, SB.replace("FENCE", "nop"), ["p0", "p1"], ("res0", "res1"), "sc")
    tso = outcomes(rig, SB.replace("FENCE", "nop"), ["p0", "p1"], ("res0", "res1"), "tso")
    assert (0, 0) not in sc
    assert tso.get((0, 0), 0) > 0
    assert {(0, 1), (1, 0)} <= set(sc) and {(0, 1), (1, 0)} <= set(tso)


def test_sb_with_fences_is_forbidden_under_tso(rig):
    tso = outcomes(rig, SB.replace("FENCE", "fence"), ["p0", "p1"], ("res0", "res1"), "tso")
    assert (0, 0) not in tso
    tso = outcomes(rig, SB.replace("FENCE", "xchg r6, [res1], 0"), ["p0", "p1"], ("res0", "res1"), "tso")
    assert (0, 0) not in tso


MP = """
.word x, 0
.word y, 0
.word res0, 0
.word res1, 0
p0:
    st [x], 1
    st [y], 1
    halt
p1:
    ld r5, [y]
    ld r6, [x]
    st [res0], r5
    st [res1], r6
    halt
"""


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_mp_forbidden(rig, model):
    seen = outcomes(rig, MP, ["p0", "p1"], ("res0", "res1"), model)
    assert (1, 0) not in seen
    assert (1, 1) in seen and (0, 0) in seen


LB = """
.word x, 0
.word y, 0
.word res0, 0
.word res1, 0
p0:
    ld r5, [x]
    st [y], 1
    st [res0], r5
    halt
p1:
    ld r5, [y]
    st [x], 1
    st [res1], r5
    halt
"""


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_lb_forbidden(rig, model):
    seen = outcomes(rig, LB, ["p0", "p1"], ("res0", "res1"), model)
    assert (1, 1) not in seen
    assert len(seen) >= 2


TWO_PLUS_TWO_W = """
.word x, 0
.word y, 0
p0:
    st [x], 1
    st [y], 2
    halt
p1:
    st [y], 1
    st [x], 2
    halt
"""


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_2_plus_2_w_forbidden(rig, model):
    seen = outcomes(rig, TWO_PLUS_TWO_W, ["p0", "p1"], ("x", "y"), model)
    assert (1, 1) not in seen
    assert len(seen) >= 2


IRIW = """
.word x, 0
.word y, 0
.word a, 0
.word b, 0
.word c, 0
.word d, 0
w0:
    st [x], 1
    halt
w1:
    st [y], 1
    halt
rd0:
    ld r5, [x]
    ld r6, [y]
    st [a], r5
    st [b], r6
    halt
rd1:
    ld r5, [y]
    ld r6, [x]
    st [c], r5
    st [d], r6
    halt
"""


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_iriw_forbidden(rig, model):
    seen = outcomes(rig, IRIW, ["w0", "w1", "rd0", "rd1"], ("a", "b", "c", "d"), model)
    assert (1, 0, 1, 0) not in seen
    assert len(seen) >= 4
