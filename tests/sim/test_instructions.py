"""Every instruction of sim.isa.OPS executed by the simulator, its faults, and what it reports.

Each test names the mnemonics it exercises with @covers; `test_op_is_covered` checks the list
against OPS, so a new instruction without a test fails here.
"""

from __future__ import annotations

import textwrap

import pytest

from sim.isa import MASK64, OPS
from sim.thread import BLOCKED, EXITED, NOT_STARTED

COVERAGE: dict[str, list[str]] = {}


def covers(*ops: str):
    def mark(fn):
        for op in ops:
            COVERAGE.setdefault(op, []).append(fn.__name__)
        return fn
    return mark


def program(body: str, data: str = "", after: str = "") -> str:
    """A one-function program: data, `main:` with the body, then a halt and extra code."""
    return (textwrap.dedent(data) + "\nmain:\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
            + "\n    halt\n" + textwrap.dedent(after))


def regs_after(rig, body: str, data: str = "", after: str = "", **kw) -> list[int]:
    system, outcome = rig.run(program(body, data, after), **kw)
    assert outcome.outcome == "completed", outcome
    return system.threads[0].regs


def panic_of(rig, source: str, **kw):
    system, outcome = rig.run(source, **kw)
    assert outcome.outcome == "panic", outcome
    return system, outcome.panic


def line_of(source: str, needle: str) -> int:
    """The 1-based line of the first source line containing `needle` (as the file is written)."""
    for i, line in enumerate(textwrap.dedent(source).split("\n"), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in source")


# ---------------------------------------------------------------------------------------------
# Data movement and arithmetic

@covers("mov")
@pytest.mark.parametrize("value, expected", [
    ("7", 7), ("0", 0), ("-1", MASK64), ("0xffffffffffffffff", MASK64), ("1 << 63", 1 << 63), ("K * 2", 10),
])
def test_mov_immediates(rig, value, expected):
    regs = regs_after(rig, f"mov r3, {value}\nmov r4, r3\nmov r15, r4\n", data=".equ K, 5\n")
    assert regs[3] == regs[4] == regs[15] == expected


@covers("ld", "st")
def test_load_and_store(rig):
    system, outcome = rig.run(program("""
        ld r1, [x]
        st [y], r1
        st [y + 1], 9
        mov r2, y
        ld r3, [r2 + 1]
        st [r2], 4
        mov r5, 3
        st [x + r5], 77
    """, data=".word x, 11\n.word y, 0\n.word z, 0\n.word w, 0\n"))
    assert outcome.outcome == "completed"
    regs = system.threads[0].regs
    assert regs[1] == 11 and regs[3] == 9
    assert system.read_symbol("y") == 4
    assert system.read_symbol("z") == 9
    assert system.read_symbol("w") == 77
    assert system.read_symbol("x") == 11


ARITH = [
    ("add", 3, 4, 7), ("add", MASK64, 1, 0), ("add", MASK64, MASK64, MASK64 - 1),
    ("sub", 10, 3, 7), ("sub", 0, 1, MASK64), ("sub", 3, 10, MASK64 - 6),
    ("mul", 6, 7, 42), ("mul", 1 << 63, 2, 0), ("mul", MASK64, MASK64, 1), ("mul", 1 << 32, 1 << 32, 0),
    ("div", 7, 2, 3), ("div", MASK64, 2, (1 << 63) - 1), ("div", 5, 7, 0), ("div", MASK64, MASK64, 1),
    ("mod", 7, 3, 1), ("mod", MASK64, 10, MASK64 % 10), ("mod", 3, 7, 3),
    ("and", 0b1100, 0b1010, 0b1000), ("and", MASK64, 1 << 40, 1 << 40),
    ("or", 0b1100, 0b1010, 0b1110), ("or", 1 << 63, 1, (1 << 63) | 1),
    ("xor", 0b1100, 0b1010, 0b0110), ("xor", MASK64, 1, MASK64 - 1),
    ("shl", 1, 4, 16), ("shl", 1, 63, 1 << 63), ("shl", 1 << 63, 1, 0), ("shl", 3, 64, 3), ("shl", 1, 65, 2),
    ("shl", MASK64, 4, MASK64 - 15),
    ("shr", 16, 4, 1), ("shr", 1 << 63, 63, 1), ("shr", MASK64, 60, 15), ("shr", 8, 64, 8), ("shr", 8, 66, 2),
]


@covers("add", "sub", "mul", "div", "mod", "and", "or", "xor", "shl", "shr")
@pytest.mark.parametrize("op, a, b, expected", ARITH)
def test_arithmetic(rig, op, a, b, expected):
    regs = regs_after(rig, f"""
        mov r1, {a}
        mov r2, {b}
        {op} r3, r1, r2     ; register operand
        {op} r4, r1, {b}    ; immediate operand
        mov r5, r1
        {op} r5, r2         ; two-operand form: r5 = r5 op r2
        mov r6, r1
        {op} r6, {b}
        {op} r1, r1, r2     ; destination == source
    """)
    assert regs[3] == regs[4] == regs[5] == regs[6] == regs[1] == expected
    assert regs[2] == b  # the source is untouched


@covers("not")
@pytest.mark.parametrize("value, expected", [(0, MASK64), (MASK64, 0), (0xF0, MASK64 ^ 0xF0), (1 << 63, (1 << 63) - 1)])
def test_not(rig, value, expected):
    regs = regs_after(rig, f"mov r1, {value}\nnot r2, r1\nnot r3, {value}\nnot r1, r1\n")
    assert regs[2] == regs[3] == regs[1] == expected


@covers("div", "mod")
@pytest.mark.parametrize("op, divisor", [("div", "0"), ("mod", "0"), ("div", "r2"), ("mod", "r2")])
def test_division_by_zero_panics(rig, op, divisor):
    source = program(f"""
        mov r1, 5
        mov r2, 0
        {op} r3, r1, {divisor}   ; the fault
        mov r4, 1
    """)
    system, panic = panic_of(rig, source)
    assert panic.message == "division by zero"
    assert panic.line == line_of(source, "the fault")
    assert panic.function == "main"
    regs = system.threads[0].regs
    assert regs[3] == 0 and regs[4] == 0  # nothing after the fault ran


# ---------------------------------------------------------------------------------------------
# Control flow

def _branch_taken(op: str, a: int, b: int) -> bool:
    return {"beq": a == b, "bne": a != b, "blt": a < b, "ble": a <= b, "bgt": a > b, "bge": a >= b}[op]


BRANCH_CASES = [(a, b) for a, b in [(1, 2), (2, 1), (2, 2), (0, MASK64), (MASK64, 0), (MASK64, 1), (1 << 63, 1),
                                    (MASK64, MASK64)]]


@covers("beq", "bne", "blt", "ble", "bgt", "bge")
@pytest.mark.parametrize("op", ["beq", "bne", "blt", "ble", "bgt", "bge"])
def test_compare_branches_are_unsigned(rig, op):
    for a, b in BRANCH_CASES:
        regs = regs_after(rig, f"""
            mov r1, {a}
            mov r2, {b}
            {op} r1, r2, .taken_reg
            jmp .second
        .taken_reg:
            mov r5, 1
        .second:
            {op} r1, {b}, .taken_imm
            jmp .out
        .taken_imm:
            mov r6, 1
        .out:
            nop
        """)
        expected = int(_branch_taken(op, a, b))
        assert (regs[5], regs[6]) == (expected, expected), (op, a, b)


@covers("jz", "jnz", "jmp")
@pytest.mark.parametrize("value", [0, 1, MASK64, 1 << 63])
def test_jz_jnz_jmp(rig, value):
    regs = regs_after(rig, f"""
        mov r1, {value}
        jz r1, .zero
        mov r2, 1
    .zero:
        jnz r1, .nonzero
        mov r3, 1
    .nonzero:
        jmp .end
        mov r4, 1          ; skipped
    .end:
        nop
    """)
    assert regs[2] == (1 if value else 0)
    assert regs[3] == (0 if value else 1)
    assert regs[4] == 0


@covers("jnz", "sub")
def test_backward_branch_loop(rig):
    system, outcome = rig.run(program("""
        mov r1, 10
        mov r2, 0
    .loop:
        add r2, r2, r1
        sub r1, 1
        jnz r1, .loop
    """))
    assert system.threads[0].regs[2] == 55
    assert outcome.instructions == 2 + 3 * 10 + 1
    assert outcome.cycles == outcome.instructions  # one cycle each, one core


@covers("call", "ret", "push", "pop")
def test_call_ret_push_pop(rig):
    regs = regs_after(rig, """
        push 1
        push 2
        call f
        pop r2          ; the data stack is not the call stack: f's call did not disturb it
        pop r3
        mov r9, r7
    """, after="""
    f:
        mov r7, 10
        call g
        add r7, 1
        ret
    g:
        push r7
        pop r8
        add r7, 100
        ret
    """)
    assert regs[8] == 10
    assert regs[7] == 111
    assert regs[9] == 111
    assert (regs[2], regs[3]) == (2, 1)


@covers("call", "ret")
def test_recursion_depth(rig):
    regs = regs_after(rig, "mov r1, 50\nmov r2, 0\ncall down\n", after="""
    down:
        jz r1, .bottom
        sub r1, 1
        add r2, 1
        call down
    .bottom:
        ret
    """)
    assert regs[2] == 50


@covers("ret")
def test_ret_with_empty_stack_panics(rig):
    source = program("mov r1, 1\nret            ; here\n")
    _, panic = panic_of(rig, source)
    assert panic.message == "ret with an empty stack"
    assert panic.line == line_of(source, "; here")


@covers("pop")
def test_pop_with_empty_stack_panics(rig):
    source = program("call f\n", after="f:\n    pop r1      ; here\n    ret\n")
    _, panic = panic_of(rig, source)
    assert panic.message == "pop with an empty stack"
    assert panic.function == "f"
    assert panic.line == line_of(source, "; here")


# ---------------------------------------------------------------------------------------------
# Atomic read-modify-write

ATOMIC_DATA = ".word v, 5\n.word w, 0\n"


@covers("xchg")
def test_xchg(rig):
    system, _outcome = rig.run(program("xchg r1, [v], 9\nmov r3, 4\nxchg r2, [v], r3\n", ATOMIC_DATA), observe=True)
    regs = system.threads[0].regs
    assert (regs[1], regs[2]) == (5, 9)
    assert system.read_symbol("v") == 4
    rmw = system.observer.of("rmw")
    assert [(e.old, e.new, e.atomic) for e in rmw] == [(5, 9, True), (9, 4, True)]


@covers("cas")
def test_cas_success_and_failure(rig):
    system, _outcome = rig.run(program("""
        cas r1, [v], 5, 6       ; succeeds: v 5 -> 6
        cas r2, [v], 5, 7       ; fails: v stays 6
        mov r4, 6
        mov r5, 0
        cas r3, [v], r4, r5     ; succeeds with register operands
    """, ATOMIC_DATA), observe=True)
    regs = system.threads[0].regs
    assert (regs[1], regs[2], regs[3]) == (5, 6, 6)
    assert system.read_symbol("v") == 0
    assert [(e.old, e.new) for e in system.observer.of("rmw")] == [(5, 6), (6, 6), (6, 0)]


@covers("xadd")
def test_xadd_wraps(rig):
    system, _ = rig.run(program("xadd r1, [v], 3\nxadd r2, [v], -10\nmov r4, 1\nxadd r3, [w], r4\n", ATOMIC_DATA))
    regs = system.threads[0].regs
    assert (regs[1], regs[2], regs[3]) == (5, 8, 0)
    assert system.read_symbol("v") == MASK64 - 1  # 8 - 10 wraps
    assert system.read_symbol("w") == 1


BIT_DATA = ".word f, 0b1010\n"


@covers("test_and_set_bit", "test_and_clear_bit")
def test_test_and_set_and_clear_bit(rig):
    system, _ = rig.run(program("""
        test_and_set_bit r1, 0, [f]     ; bit 0 was clear -> 0; f = 0b1011
        test_and_set_bit r2, 1, [f]     ; bit 1 was set -> 1; unchanged
        mov r9, 63
        test_and_set_bit r3, r9, [f]    ; register bit number
        test_and_clear_bit r4, 3, [f]   ; was set -> 1
        test_and_clear_bit r5, 2, [f]   ; was clear -> 0
        test_and_set_bit r6, 64, [w]    ; bit numbers are taken mod 64: bit 0
    """, BIT_DATA + ".word w, 0\n"), observe=True)
    regs = system.threads[0].regs
    assert regs[1:7] == [0, 1, 0, 1, 0, 0]
    assert system.read_symbol("f") == (1 << 63) | 0b0011
    assert system.read_symbol("w") == 1
    rmw = [(e.old, e.new) for e in system.observer.of("rmw")]
    assert rmw[:2] == [(0b1010, 0b1011), (0b1011, 0b1011)]


@covers("set_bit", "clear_bit")
def test_set_and_clear_bit(rig):
    system, _ = rig.run(program("""
        set_bit 0, [f]
        set_bit 1, [f]          ; already set: no change
        clear_bit 3, [f]
        clear_bit 2, [f]        ; already clear
        mov r1, 40
        set_bit r1, [f]
    """, BIT_DATA), observe=True)
    assert system.read_symbol("f") == (1 << 40) | 0b0011
    assert [e.atomic for e in system.observer.of("rmw")] == [True] * 5
    assert [(e.old, e.new) for e in system.observer.of("rmw")][:4] == [
        (0b1010, 0b1011), (0b1011, 0b1011), (0b1011, 0b0011), (0b0011, 0b0011)]


@covers("test_and_set_bit_lock", "clear_bit_unlock")
def test_bit_lock_acquire_and_release_events(rig):
    source = program("""
        test_and_set_bit_lock r1, 2, [f]    ; takes bit 2: acquire
        test_and_set_bit_lock r2, 2, [f]    ; already held: no acquire
        clear_bit_unlock 2, [f]             ; release
        test_and_set_bit_lock r3, 1, [f]    ; bit 1 is already set: no acquire
    """, BIT_DATA)
    system, _ = rig.run(source, observe=True)
    regs = system.threads[0].regs
    assert (regs[1], regs[2], regs[3]) == (0, 1, 1)
    f = system.image.symbol("f").addr
    got = [(e.kind, e.addr, e.old, e.new, e.sync) for e in system.observer.without("switch", "exit")]
    assert got == [
        ("acquire", f, 0b1010, 0b1110, f), ("rmw", f, 0b1010, 0b1110, -1),
        ("rmw", f, 0b1110, 0b1110, -1),
        ("rmw", f, 0b1110, 0b1010, -1), ("release", f, 0b1110, 0b1010, f),
        ("rmw", f, 0b1010, 0b1010, -1),
    ]
    assert system.read_symbol("f") == 0b1010


# ---------------------------------------------------------------------------------------------
# Locks and preemption counting

LOCK_DATA = ".word lock, 0\n.word x, 0\n"


def _preempt_probe(log, ev):
    """Record (kind, thread, preempt_count) at each report; writes of `x` as kind 'x'."""
    log.preempt_seen = getattr(log, "preempt_seen", [])
    kind = ev.kind
    if kind == "write" and ev.addr == log.system.image.symbol("x").addr:
        kind = "x"
    log.preempt_seen.append((kind, ev.thread, log.system.threads[ev.thread].preempt if ev.thread >= 0 else None))


@covers("spin_lock", "spin_unlock")
def test_spin_lock_and_unlock_count_preemption(rig):
    log = rig.EventLog(on_event=_preempt_probe)
    system = rig.system(program("""
        spin_lock [lock]
        st [x], 1
        spin_lock [lock2]
        st [x], 2
        spin_unlock [lock2]
        st [x], 3
        spin_unlock [lock]
        st [x], 4
    """, LOCK_DATA + ".word lock2, 0\n"), observer=log)
    outcome = system.run()
    assert outcome.outcome == "completed"
    # preempt_count after each write: 1, 2, 1, 0
    assert [p for k, _, p in log.preempt_seen if k == "x"] == [1, 2, 1, 0]
    lock, lock2 = system.image.symbol("lock").addr, system.image.symbol("lock2").addr
    syncs = [(e.kind, e.sync) for e in log.of("acquire", "release")]
    assert syncs == [("acquire", lock), ("acquire", lock2), ("release", lock2), ("release", lock)]
    assert system.read_symbol("lock") == 0 and system.read_symbol("lock2") == 0
    assert system.threads[0].preempt == 0


@covers("spin_trylock")
def test_spin_trylock(rig):
    log = rig.EventLog(on_event=_preempt_probe)
    system = rig.system(program("""
        spin_trylock r1, [lock]     ; free: taken
        st [x], r1
        spin_trylock r2, [lock]     ; held (by us): fails, preempt_count unchanged
        st [x], r2
        spin_unlock [lock]
        st [x], 7
    """, LOCK_DATA), observer=log)
    assert system.run().outcome == "completed"
    regs = system.threads[0].regs
    assert (regs[1], regs[2]) == (1, 0)
    assert [p for k, _, p in log.preempt_seen if k == "x"] == [1, 1, 0]
    lock = system.image.symbol("lock").addr
    assert [(e.kind, e.old, e.new) for e in log.events if e.addr == lock] == [
        ("acquire", 0, 1), ("rmw", 0, 1), ("rmw", 1, 1), ("write", 1, 0), ("release", 1, 0)]


@covers("spin_unlock")
def test_unlocking_an_unlocked_lock_panics(rig):
    source = program("preempt_disable\nspin_unlock [lock]   ; here\n", LOCK_DATA)
    system, panic = panic_of(rig, source)
    assert "spin_unlock of an unlocked lock" in panic.message
    assert f"{system.image.symbol('lock').addr:#x}" in panic.message
    assert panic.line == line_of(source, "; here")


@covers("spin_unlock")
def test_spin_unlock_with_preempt_count_zero_panics(rig):
    _, panic = panic_of(rig, program("st [lock], 1\nspin_unlock [lock]\n", LOCK_DATA))
    assert "preempt_count 0" in panic.message


@covers("spin_lock", "spin_unlock", "delay")
def test_contended_spin_lock_waits_for_the_holder(rig):
    log = rig.EventLog(on_event=_preempt_probe)
    source = LOCK_DATA + """
    holder:
        spin_lock [lock]
        st [x], 1
        delay 200
        st [x], 2
        spin_unlock [lock]
        halt
    waiter:
        delay 20
        spin_lock [lock]
        ld r1, [x]
        spin_unlock [lock]
        halt
    """
    for seed in range(5):
        log = rig.EventLog(on_event=_preempt_probe)
        system = rig.system(source, threads=["holder", "waiter"], cores=2, observer=log, options={"seed": seed})
        assert system.run().outcome == "completed"
        assert system.threads[1].regs[1] == 2  # it saw the whole critical section
        acq = [(e.thread, e.cycle) for e in log.of("acquire")]
        rel = [(e.thread, e.cycle) for e in log.of("release")]
        assert [a[0] for a in acq] == [0, 1]
        assert acq[1][1] > rel[0][1] >= 200
        # the waiter spun (failed attempts are rmw events that change nothing) ...
        lock = system.image.symbol("lock").addr
        spins = [e for e in log.of("rmw") if e.thread == 1 and e.addr == lock and e.old == e.new == 1]
        assert spins
        # ... and its preempt_count is 1 once it holds the lock, however long it spun
        assert [p for k, t, p in log.preempt_seen if k == "acquire" and t == 1] == [1]
        assert system.threads[1].preempt == 0


@covers("preempt_disable", "preempt_enable")
def test_preempt_disable_enable_nest(rig):
    log = rig.EventLog(on_event=_preempt_probe)
    system = rig.system(program("""
        preempt_disable
        st [x], 1
        preempt_disable
        st [x], 2
        preempt_enable
        st [x], 3
        preempt_enable
        st [x], 4
    """, LOCK_DATA), observer=log)
    assert system.run().outcome == "completed"
    assert [p for k, _, p in log.preempt_seen if k == "x"] == [1, 2, 1, 0]


@covers("preempt_enable")
def test_preempt_enable_underflow_panics(rig):
    source = program("preempt_disable\npreempt_enable\npreempt_enable   ; here\n")
    _, panic = panic_of(rig, source)
    assert panic.message == "BUG: preempt_enable with preempt_count 0"
    assert panic.line == line_of(source, "; here")


@covers("sleep", "preempt_disable")
def test_sleeping_while_atomic_panics(rig):
    source = program("preempt_disable\nsleep     ; here\n")
    _, panic = panic_of(rig, source)
    assert panic.message == "BUG: scheduling while atomic (preempt_count 1)"
    assert panic.line == line_of(source, "; here")


@covers("recv", "spin_lock")
def test_blocking_recv_under_a_spinlock_panics(rig):
    source = program("spin_lock [lock]\nrecv p, r1     ; here\n", LOCK_DATA)
    _, panic = panic_of(rig, source, extra_toml='[ports]\np = "host"\n')
    assert "scheduling while atomic" in panic.message
    assert panic.line == line_of(source, "; here")


@covers("sleep", "wake")
def test_pending_wake_lets_sleep_under_spinlock_pass(rig):
    # sleep with a wake-up already pending does not schedule, so it is fine while atomic
    regs = regs_after(rig, "tid r2\nwake r2\nspin_lock [lock]\nsleep\nspin_unlock [lock]\nmov r1, 1\n", LOCK_DATA)
    assert regs[1] == 1


@covers("kernel_enter", "kernel_exit")
def test_kernel_enter_and_exit(rig):
    seen = []

    def probe(log, ev):
        if ev.kind == "write":
            seen.append(log.system.threads[ev.thread].in_kernel)

    log = rig.EventLog(on_event=probe)
    system = rig.system(program("""
        st [x], 1
        kernel_enter
        st [x], 2
        kernel_exit
        st [x], 3
    """, LOCK_DATA) + "kthread:\n    st [x], 9\n    kernel_exit\n    st [x], 8\n    kernel_enter\n    st [x], 7\n    halt\n",
        threads=[{"entry": "main", "kind": "user"}, {"entry": "kthread", "kind": "kernel"}], observer=log,
        options={"sched": "roundrobin", "quantum": 1000})
    assert system.run().outcome == "completed"
    assert seen == [False, True, False, True, False, True]


# ---------------------------------------------------------------------------------------------
# Scheduling instructions

TWO = ".word a, 0\n.word b, 0\n"


def writes(log, system):
    names = {s.addr: s.name for s in system.image.symbols}
    return [(names.get(e.addr, e.addr), e.new) for e in log.of("write")]


@covers("pause")
def test_pause_ends_the_burst(rig):
    source = TWO + """
    p0:
        st [a], 1
        pause
        st [a], 2
        halt
    p1:
        st [b], 1
        halt
    """
    system = rig.system(source, threads=["p0", "p1"], cores=2, observe=True,
                        options={"sched": "roundrobin", "quantum": 50})
    assert system.run().outcome == "completed"
    assert writes(system.observer, system) == [("a", 1), ("b", 1), ("a", 2)]
    # without the pause, the whole of p0 runs in its first turn
    system = rig.system(source.replace("pause", "nop"), threads=["p0", "p1"], cores=2, observe=True,
                        options={"sched": "roundrobin", "quantum": 50})
    system.run()
    assert writes(system.observer, system) == [("a", 1), ("a", 2), ("b", 1)]


@covers("yield")
def test_yield_switches_to_a_waiting_thread(rig):
    source = TWO + """
    p0:
        st [a], 1
        yield
        st [a], 2
        halt
    p1:
        st [b], 1
        halt
    """
    for seed in range(5):
        system = rig.system(source, threads=["p0", "p1"], observe=True, options={"seed": seed},
                            preemption="voluntary")
        assert system.run().outcome == "completed"
        assert writes(system.observer, system) == [("a", 1), ("b", 1), ("a", 2)]
        switches = [(e.old, e.new) for e in system.observer.of("switch")]
        assert switches == [(MASK64, 0), (0, 1), (1, 0)]


@covers("yield", "preempt_disable")
def test_yield_does_nothing_when_alone_or_atomic(rig):
    source = TWO + """
    p0:
        yield               ; nobody waits: keeps running
        st [a], 1
        halt
    """
    system = rig.system(source, threads=["p0"], observe=True)
    assert system.run().outcome == "completed"
    assert system.observer.kinds() == ["switch", "write", "exit"]
    source = TWO + """
    p0:
        preempt_disable
        st [a], 1
        yield               ; not a preemption point while atomic
        st [a], 2
        preempt_enable
        halt
    p1:
        st [b], 1
        halt
    """
    system = rig.system(source, threads=["p0", "p1"], observe=True, preemption="voluntary")
    assert system.run().outcome == "completed"
    assert writes(system.observer, system) == [("a", 1), ("a", 2), ("b", 1)]


@covers("sleep", "wake")
def test_sleep_blocks_until_woken(rig):
    source = TWO + """
    sleeper:
        sleep
        st [a], 1
        halt
    waker:
        delay 50
        st [b], 1
        wake T0
        halt
    """
    for cores in (1, 2):
        for seed in range(4):
            system = rig.system(source, threads=["sleeper", "waker"], cores=cores, observe=True,
                                options={"seed": seed})
            assert system.run().outcome == "completed"
            log = system.observer
            assert writes(log, system) == [("b", 1), ("a", 1)]
            (wake,) = log.of("wake")
            (slept,) = log.of("sleep")
            assert wake.thread == 1 and wake.sync == 0 and wake.new == 0
            assert slept.thread == 0 and slept.sync == 0
            assert slept.cycle > wake.cycle >= 50


@covers("sleep", "wake", "delay")
def test_wake_before_sleep_is_not_lost(rig):
    source = TWO + """
    sleeper:
        delay 100
        sleep               ; the wake-up came long ago: returns at once
        st [a], 1
        halt
    waker:
        wake T0
        halt
    """
    for seed in range(4):
        system = rig.system(source, threads=["sleeper", "waker"], cores=2, observe=True, options={"seed": seed})
        assert system.run().outcome == "completed"
        log = system.observer
        assert log.of("wake")[0].cycle < log.of("sleep")[0].cycle
        assert system.read_symbol("a") == 1


@covers("sleep", "wake")
def test_wake_ups_do_not_accumulate(rig):
    # two wake-ups before two sleeps: the first sleep consumes the one pending wake-up, the
    # second blocks forever
    source = program("tid r1\nwake r1\nwake r1\nsleep\nsleep\n")
    _system, outcome = rig.run(source)
    assert outcome.outcome == "deadlock"
    assert outcome.blocked == [f"T0: sleep at main.s:{line_of(source, 'sleep') + 1} (main)"]


@covers("wake", "spawn")
@pytest.mark.parametrize("op", ["wake", "spawn"])
def test_wake_or_spawn_of_no_such_thread_panics(rig, op):
    _, panic = panic_of(rig, program(f"{op} 5\n"))
    assert panic.message == f"{op}: no thread 5"


@covers("spawn")
def test_spawn_starts_a_thread(rig):
    source = TWO + """
    parent:
        st [a], 1
        spawn T1
        halt
    child:
        ld r1, [a]
        st [b], r1
        halt
    """
    system = rig.system(source, threads=["parent", {"entry": "child", "start": False}], observe=True)
    assert system.threads[1].state == NOT_STARTED
    assert system.run().outcome == "completed"
    assert system.read_symbol("b") == 1
    (spawn,) = system.observer.of("spawn")
    assert (spawn.thread, spawn.sync, spawn.new) == (0, 1, 1)
    first_child = next(e for e in system.observer.events if e.thread == 1)
    assert first_child.kind == "switch" and system.observer.events.index(first_child) > system.observer.events.index(spawn)


@covers("spawn")
def test_unspawned_thread_never_runs(rig):
    source = TWO + "parent:\n    halt\nchild:\n    st [b], 1\n    halt\n"
    system, outcome = rig.run(source, threads=["parent", {"entry": "child", "start": False}])
    assert outcome.outcome == "deadlock"
    assert outcome.blocked == ["T1: not started at main.s:6 (child)"]
    assert system.read_symbol("b") == 0
    # a daemon that is never started does not hold the run up
    system, outcome = rig.run(source, threads=["parent", {"entry": "child", "start": False, "daemon": True}])
    assert outcome.outcome == "completed"


@covers("spawn")
@pytest.mark.parametrize("start", [False, True])
def test_spawning_a_started_thread_panics(rig, start):
    source = TWO + "parent:\n    spawn T1\n    spawn T1\n    halt\nchild:\n    halt\n"
    if start:
        source = source.replace("    spawn T1\n    spawn T1", "    spawn T1")
    _system, panic = panic_of(rig, source, threads=["parent", {"entry": "child", "start": start}])
    assert panic.message == "spawn: thread T1 was already started"
    assert panic.thread == "T0"


@covers("delay")
@pytest.mark.parametrize("n", [1, 10, 1000])
def test_delay_advances_the_clock(rig, n):
    system, outcome = rig.run(program(f"st [a], 1\ndelay {n}\nst [a], 2\n", TWO), observe=True)
    w1, w2 = system.observer.of("write")
    assert w2.cycle - w1.cycle >= n
    assert outcome.cycles >= n
    assert outcome.instructions == 4


@covers("delay")
def test_delay_zero_and_register_operand(rig):
    _system, outcome = rig.run(program("mov r1, 0\ndelay r1\nmov r2, 300\ndelay r2\n"))
    assert outcome.outcome == "completed"
    assert outcome.cycles >= 300 and outcome.instructions == 5


@covers("delay")
def test_delay_stalls_only_its_own_core(rig):
    source = TWO + """
    slow:
        delay 500
        st [a], 1
        halt
    fast:
        mov r1, 100
    .l:
        st [b], r1
        sub r1, 1
        jnz r1, .l
        halt
    """
    system, outcome = rig.run(source, threads=["slow", "fast"], cores=2, observe=True)
    log = system.observer
    a_write = next(e for e in log.of("write") if e.thread == 0)
    b_writes = [e for e in log.of("write") if e.thread == 1]
    assert a_write.cycle >= 500
    assert all(e.cycle < a_write.cycle for e in b_writes)  # the other core kept running
    assert outcome.cycles >= 500


@covers("msleep")
def test_msleep_blocks_and_frees_the_core(rig):
    source = TWO + """
    sleeper:
        st [a], 1
        msleep 300
        st [a], 2
        halt
    worker:
        mov r1, 50
    .l:
        st [b], r1
        sub r1, 1
        jnz r1, .l
        halt
    """
    for seed in range(4):
        system = rig.system(source, threads=["sleeper", "worker"], observe=True, options={"seed": seed},
                            preemption="voluntary")
        outcome = system.run()
        assert outcome.outcome == "completed"
        log = system.observer
        a1, a2 = [e for e in log.of("write") if e.thread == 0]
        assert a2.cycle - a1.cycle >= 300
        # the one core ran the worker meanwhile (a busy-wait `delay` would have kept it)
        assert [e.thread for e in log.of("write")] == [0] + [1] * 50 + [0]
        assert [(e.old, e.new) for e in log.of("switch")][:2] == [(MASK64, 0), (0, 1)]
        assert outcome.instructions == 4 + (1 + 3 * 50 + 1)


@covers("msleep")
def test_msleep_alone_jumps_the_clock(rig):
    system, outcome = rig.run(program("msleep 1000\nmov r2, 0\nmsleep r2\nmov r1, 1\n"))
    assert outcome.outcome == "completed"
    assert outcome.cycles >= 1000 and outcome.instructions == 5
    assert system.threads[0].regs[1] == 1


@covers("msleep")
def test_msleep_is_not_cut_short_by_wake(rig):
    source = TWO + """
    sleeper:
        msleep 500
        st [a], 1
        halt
    waker:
        delay 10
        wake T0
        halt
    """
    system, outcome = rig.run(source, threads=["sleeper", "waker"], cores=2, observe=True)
    assert outcome.outcome == "completed"
    assert system.observer.of("write")[0].cycle >= 500


@covers("msleep", "preempt_disable")
def test_msleep_while_atomic_panics(rig):
    source = program("preempt_disable\nmsleep 10    ; here\n")
    _, panic = panic_of(rig, source)
    assert "scheduling while atomic" in panic.message
    assert panic.line == line_of(source, "; here")


@covers("halt")
def test_halt_exits_the_thread(rig):
    system, outcome = rig.run(program("mov r1, 1\nhalt\nmov r1, 2\n"), observe=True)
    assert outcome.outcome == "completed"
    assert system.threads[0].regs[1] == 1
    assert system.threads[0].state == EXITED
    assert outcome.instructions == 2
    assert system.observer.kinds() == ["switch", "exit"]


@covers("tid", "cpu")
def test_tid_and_cpu(rig):
    source = "worker:\n    tid r1\n    cpu r2\n    halt\n"
    system, outcome = rig.run(source, cores=4, threads=[
        {"entry": "worker", "cores": [2]}, {"entry": "worker", "cores": [3]}, {"entry": "worker", "cores": [0]}])
    assert outcome.outcome == "completed"
    assert [(t.regs[1], t.regs[2]) for t in system.threads] == [(0, 2), (1, 3), (2, 0)]


@covers("mov", "add")
def test_initial_registers_from_the_scenario(rig):
    source = "worker:\n    add r3, r1, r2\n    halt\n"
    system, outcome = rig.run(source, threads=[{"entry": "worker", "regs": {"r1": 5, "r2": -1}},
                                               {"entry": "worker", "regs": {"r1": 7, "r2": 3, "r15": 9}}])
    assert outcome.outcome == "completed"
    assert [t.regs[3] for t in system.threads] == [4, 10]
    assert system.threads[1].regs[15] == 9
    assert system.threads[0].regs[2] == MASK64


@covers("nop")
def test_nop(rig):
    system, outcome = rig.run(program("mov r1, 3\nnop\nnop\nnop\n"), observe=True)
    assert outcome.instructions == outcome.cycles == 5
    assert system.threads[0].regs[1] == 3
    assert system.observer.kinds() == ["switch", "exit"]


@covers("fence")
def test_fence_under_sc(rig):
    system, _outcome = rig.run(program("st [a], 1\nfence\nld r1, [a]\n", TWO), observe=True)
    assert system.threads[0].regs[1] == 1
    assert system.observer.kinds() == ["switch", "write", "fence", "read", "exit"]
    assert system.observer.of("fence")[0].atomic


# ---------------------------------------------------------------------------------------------
# Memory-order instructions: the kernel's READ_ONCE / WRITE_ONCE, smp_load_acquire,
# smp_store_release, smp_rmb, smp_wmb. To the machine they are ld, st and (for the full barrier
# only) a drain; what they add is the mode every report carries.

ORDERED = """
    st_once [a], 5
    ld_once r1, [a]
    st_release [b], 7
    ld_acquire r2, [b]
    wmb
    rmb
    fence
    ld r3, [a]
    ld r4, [b]
"""


@covers("ld_once", "st_once", "ld_acquire", "st_release", "rmb", "wmb")
@pytest.mark.parametrize("model", ["sc", "tso"])
@pytest.mark.parametrize("observe", [False, True])
def test_marked_and_ordered_accesses_load_and_store(rig, model, observe):
    system, outcome = rig.run(program(ORDERED, TWO), observe=observe, options={"memory_model": model})
    assert outcome.outcome == "completed"
    assert system.threads[0].regs[1:5] == [5, 7, 5, 7]
    assert system.read_symbol("a") == 5 and system.read_symbol("b") == 7


@covers("ld_once", "st_once", "ld_acquire", "st_release", "rmb", "wmb", "fence")
@pytest.mark.parametrize("model", ["sc", "tso"])
def test_every_access_reports_its_mode(rig, model):
    system, _ = rig.run(program(ORDERED, TWO), observe=True,
                        options={"memory_model": model, "sched": "roundrobin", "quantum": 1000})
    got = [(e.kind, e.mode) for e in system.observer.without("switch", "exit")]
    if model == "sc":
        assert got == [("write", "marked"), ("read", "marked"), ("write", "release"), ("read", "acquire"),
                       ("fence", "wmb"), ("fence", "rmb"), ("fence", "mb"), ("read", "plain"), ("read", "plain")]
    else:  # the stores wait in the buffer until the full barrier drains them, keeping their mode;
        # the wmb is reported when the stores before it have drained (it waits in the buffer too)
        assert got == [("read", "marked"), ("read", "acquire"), ("fence", "rmb"), ("write", "marked"),
                       ("write", "release"), ("fence", "wmb"), ("fence", "mb"), ("read", "plain"),
                       ("read", "plain")]
    assert all(e.atomic for e in system.observer.of("fence"))
    assert not any(e.atomic for e in system.observer.of("read", "write"))


@covers("rmb", "wmb", "fence")
def test_only_the_full_barrier_drains_under_tso(rig):
    """smp_rmb and smp_wmb are compiler barriers on x86 (TSO keeps loads and stores in order);
    smp_mb is an mfence. A wmb is reported once the stores before it have drained (it waits in
    the buffer as a marker), so the recording keeps it between the stores it orders."""
    seen = []

    def probe(log, ev):
        if ev.kind == "fence":
            seen.append((ev.mode, len(log.system.cores[0].sb.entries)))

    system = rig.system(program("st [a], 1\nwmb\nst_release [b], 2\nrmb\nfence\n", TWO),
                        observer=rig.EventLog(probe), options={"memory_model": "tso", "sched": "roundrobin",
                                                               "quantum": 1000})
    system.run()
    assert seen == [("rmb", 3), ("wmb", 1), ("mb", 0)]  # (mode, entries left when reported)


@covers("ld_once", "ld_acquire", "st_release")
def test_st_release_is_buffered_and_forwarded_under_tso(rig):
    """A release store goes through the store buffer like any store; the core's own marked or
    acquire load reads it from there and says so (old = 1: it read its own thread's store)."""
    mem_at_read = []

    def probe(log, ev):
        if ev.kind == "read":
            mem_at_read.append(log.system.machines[0].mem[ev.addr])

    src = program("st_release [a], 3\nld_acquire r1, [a]\nld_once r2, [b]\nld r3, [a]\n", TWO)
    system = rig.system(src, observer=rig.EventLog(probe),
                        options={"memory_model": "tso", "sched": "roundrobin", "quantum": 1000})
    system.run()
    reads = system.observer.of("read")
    assert [(r.mode, r.old, r.new) for r in reads] == [("acquire", 1, 3), ("marked", 0, 0), ("plain", 0, 3)]
    assert mem_at_read[0] == 0  # not visible to other cores yet
    assert system.threads[0].regs[1] == 3


@covers("xchg", "set_bit", "spin_lock", "spin_unlock")
def test_atomics_report_their_ordering(rig):
    src = program("""
        xchg r1, [a], 1
        set_bit 3, [b]
        spin_lock [l]
        spin_unlock [l]
    """, TWO + ".word l, 0\n")
    system, _ = rig.run(src, observe=True)
    got = [(e.kind, e.mode) for e in system.observer.without("switch", "exit")]
    assert got == [("rmw", "atomic"), ("rmw", "atomic_noret"), ("acquire", "acquire"), ("rmw", "acquire"),
                   ("write", "release"), ("release", "release")]


# ---------------------------------------------------------------------------------------------
# Network

NET_TOML = """
[[links]]
a = "alpha"
b = "beta"
latency = {latency}

[ports]
to_beta = "beta"
to_alpha = "alpha"
"""

ALPHA = """
.word sent_at, 0
client:
    delay 30
    send to_beta, 7, 8, 9
    send to_beta, 70
    recv to_alpha, r5, r6
    halt
"""

BETA = """
.word got, 0
server:
    recv to_beta, r1, r2, r3, r4    ; blocks until the first message arrives
    recv to_beta, r7, r8
    add r9, r1, 1
    send to_alpha, r9, r8
    halt
"""


def net_system(rig, latency=100, observe=True, seed=0, alpha=ALPHA, beta=BETA, extra=None):
    return rig.system(machines={"alpha": {"cores": 1, "source": alpha}, "beta": {"cores": 1, "source": beta}},
                      threads=[{"entry": "client", "machine": "alpha"}, {"entry": "server", "machine": "beta"}],
                      extra_toml=extra if extra is not None else NET_TOML.format(latency=latency), observe=observe,
                      options={"seed": seed})


@covers("send", "recv")
@pytest.mark.parametrize("latency", [0, 1, 100, 1000])
def test_send_recv_across_machines(rig, latency):
    system = net_system(rig, latency)
    outcome = system.run()
    assert outcome.outcome == "completed", outcome
    client, server = system.threads
    assert server.regs[1:5] == [7, 8, 9, 0]  # missing payload words read as 0
    assert (server.regs[7], server.regs[8]) == (70, 0)
    assert (client.regs[5], client.regs[6]) == (8, 0)
    log = system.observer
    sends, recvs = log.of("send"), log.of("recv")
    assert [e.sync for e in sends] == [0, 1, 2]
    assert [e.sync for e in recvs] == [0, 1, 2]  # FIFO: in the order sent
    ports = system.scenario.port_ids()
    assert [(e.addr, e.new) for e in sends] == [(ports["to_beta"], 7), (ports["to_beta"], 70), (ports["to_alpha"], 8)]
    assert [(e.addr, e.new) for e in recvs] == [(ports["to_beta"], 7), (ports["to_beta"], 70), (ports["to_alpha"], 8)]
    for s, r in zip(sends, recvs):
        assert r.cycle >= s.cycle + latency, (s, r)
        assert s.machine != r.machine
    assert sends[0].cycle >= 30
    # the server blocked in its first recv until the message arrived: its core switched away
    # (a core going idle reports nothing; the wake-up switches from idle, old = -1)
    server_switches = [(e.cycle, e.old, e.new) for e in log.of("switch") if e.machine == 1]
    assert [(old, new) for _, old, new in server_switches] == [(MASK64, 1), (MASK64, 1)]
    assert server_switches[0][0] == 0
    assert sends[0].cycle + latency < server_switches[1][0] <= recvs[0].cycle


@covers("send", "recv")
def test_recv_blocks_until_arrival(rig):
    system = net_system(rig, 500)
    system.run()
    log = system.observer
    first_recv = log.of("recv")[0]
    assert first_recv.cycle >= 30 + 500
    # and nothing ran on beta between its start and the arrival
    assert not [e for e in log.events if e.machine == 1 and 0 < e.cycle < first_recv.cycle and e.kind != "switch"]
    assert system.threads[1].state == EXITED


@covers("send")
def test_send_without_a_link_panics(rig):
    system = net_system(rig, extra='[ports]\nto_beta = "beta"\nto_alpha = "alpha"\n')
    outcome = system.run()
    assert outcome.outcome == "panic"
    assert outcome.panic.message == "send: no network link from alpha to beta (port to_beta)"
    assert outcome.panic.machine == "alpha" and outcome.panic.thread == "T0"


@covers("recv")
def test_recv_on_another_machines_port_panics(rig):
    system = net_system(rig, alpha="client:\n    recv to_beta, r1\n    halt\n")
    outcome = system.run()
    assert outcome.outcome == "panic"
    assert outcome.panic.message == "recv: port to_beta belongs to machine beta"


@covers("send", "recv")
def test_send_to_own_machine(rig):
    system, outcome = rig.run(program("send p, 3, 4\nrecv p, r1, r2\n"), extra_toml='[ports]\np = "host"\n',
                              observe=True)
    assert outcome.outcome == "completed"
    assert system.threads[0].regs[1:3] == [3, 4]
    s, r = system.observer.of("send")[0], system.observer.of("recv")[0]
    assert r.sync == s.sync == 0 and r.cycle > s.cycle


@covers("recv")
def test_daemon_blocked_in_recv_does_not_hold_the_run(rig):
    source = "main:\n    delay 100\n    halt\nserver:\n    recv p, r1\n    jmp server\n"
    system, outcome = rig.run(source, threads=["main", {"entry": "server", "daemon": True}], cores=2,
                              extra_toml='[ports]\np = "host"\n')
    assert outcome.outcome == "completed"
    assert system.threads[1].state == BLOCKED
    # the same thread as a non-daemon: a deadlock that says where it waits
    system, outcome = rig.run(source, threads=["main", {"entry": "server"}], cores=2,
                              extra_toml='[ports]\np = "host"\n')
    assert outcome.outcome == "deadlock"
    assert outcome.blocked == ["T1: recv p at main.s:5 (server)"]


# ---------------------------------------------------------------------------------------------
# Assertions and faults

@covers("bug_on")
def test_bug_on_only_fires_when_nonzero(rig):
    source = """
    .word x, 0
    main:
        mov r1, 0
        bug_on r1, "never"
        mov r1, 3
        bug_on r1, "x went bad"    ; fires
        halt
    other:
        halt
    """
    system, outcome = rig.run(source, cores=2, threads=[{"entry": "other", "cores": [0]},
                                                       {"entry": "main", "name": "worker", "cores": [1]}])
    assert outcome.outcome == "panic"
    p = outcome.panic
    assert p.message == "x went bad"
    assert (p.machine, p.core, p.thread, p.file, p.function) == ("host", 1, "worker", "main.s", "main")
    assert p.line == line_of(source, "fires")
    assert system.image.sites[p.site].line == p.line
    assert outcome.as_dict()["panic"]["message"] == "x went bad"


@covers("bug_on")
def test_bug_on_zero_completes(rig):
    system, outcome = rig.run(program('mov r1, 0\nbug_on r1, "no"\nmov r2, 1\n'))
    assert outcome.outcome == "completed"
    assert system.threads[0].regs[2] == 1


@covers("bug")
def test_bug_panics(rig):
    source = program('mov r1, 1\nbug "unreachable"   ; here\nmov r1, 2\n')
    system, outcome = rig.run(source, observe=True)
    assert outcome.outcome == "panic"
    assert outcome.panic.message == "unreachable"
    assert outcome.panic.line == line_of(source, "; here")
    assert system.threads[0].regs[1] == 1
    (panic,) = system.observer.of("panic")
    assert panic.site == outcome.panic.site
    assert system.observer.kinds()[-1] == "panic"


@covers("ld", "st", "xchg", "spin_lock", "test_and_set_bit_lock", "set_bit")
@pytest.mark.parametrize("instr", [
    "ld r1, [0x100000]", "st [0x100000], 1", "xchg r1, [0x100000], 1", "spin_lock [0x100000]",
    "test_and_set_bit_lock r1, 0, [0x100000]", "set_bit 1, [0x100000]", "ld r1, [r9]", "st [r9 + 5], 2",
])
@pytest.mark.parametrize("model", ["sc", "tso"])
def test_bad_address_panics(rig, instr, model):
    source = program(f"mov r9, 0x200000\n{instr}      ; here\n", ".word x, 0\n")
    _system, outcome = rig.run(source, options={"memory_model": model})
    assert outcome.outcome == "panic"
    assert outcome.panic.message.startswith("bad address 0x")
    expected = 0x200005 if "r9 + 5" in instr else 0x200000 if "r9" in instr else 0x100000
    assert outcome.panic.message == f"bad address {expected:#x}"
    assert outcome.panic.line == line_of(source, "; here")


def test_negative_address_panics(rig):
    source = program("mov r1, 0\nld r2, [r1 - 1]      ; here\n", ".word x, 0\n")
    _system, outcome = rig.run(source)
    assert outcome.outcome == "panic"
    assert outcome.panic.message == f"bad address {MASK64:#x}"


def test_falling_off_the_end_panics(rig):
    source = """
    .word x, 0
    main:
        mov r1, 1
        st [x], r1      ; the last instruction
    """
    system, outcome = rig.run(source)
    assert outcome.outcome == "panic"
    assert outcome.panic.message == "fell off the end of main (missing ret or halt?)"
    assert outcome.panic.line == line_of(source, "the last instruction")
    assert system.read_symbol("x") == 1
    assert outcome.instructions == 2


# ---------------------------------------------------------------------------------------------
# What the observer sees

EVENTS_SOURCE = """
.word x, 0
.word l, 0
main:
    st [x], 5                       ; write
    ld r1, [x]                      ; read
    xadd r2, [x], 2                 ; rmw
    spin_lock [l]                   ; rmw + acquire
    spin_unlock [l]                 ; write + release
    test_and_set_bit_lock r3, 0, [l]    ; rmw + acquire
    clear_bit_unlock 0, [l]         ; rmw + release
    fence
    spawn helper
    recv p, r4                      ; blocks: helper runs
    wake helper
    halt
helper:
    send p, 42, 1
    sleep                           ; blocks: the message has arrived, main runs
    halt
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_event_sequence(rig, seed):
    system = rig.system(EVENTS_SOURCE, threads=["main", {"entry": "helper", "name": "helper", "start": False}],
                        extra_toml='[ports]\np = "host"\n', observe=True, preemption="voluntary",
                        options={"seed": seed})
    outcome = system.run()
    assert outcome.outcome == "completed", outcome
    assert (outcome.instructions, outcome.cycles) == (17, 17)
    x, lk = system.image.symbol("x").addr, system.image.symbol("l").addr
    p = system.scenario.port_ids()["p"]
    N = MASK64

    def line(text):
        return line_of(EVENTS_SOURCE, text)

    got = [(e.cycle, e.kind, e.thread, e.addr, e.old, e.new, e.sync, e.atomic,
            system.image.sites[e.site].line if e.site >= 0 else None) for e in system.observer.events]
    assert got == [
        (0, "switch", 0, -1, N, 0, -1, False, None),
        (0, "write", 0, x, 0, 5, -1, False, line("; write")),
        (1, "read", 0, x, 0, 5, -1, False, line("; read")),
        (2, "rmw", 0, x, 5, 7, -1, True, line("; rmw")),
        (3, "acquire", 0, lk, 0, 1, lk, True, line("spin_lock")),
        (3, "rmw", 0, lk, 0, 1, -1, True, line("spin_lock")),
        (4, "write", 0, lk, 1, 0, -1, True, line("spin_unlock")),
        (4, "release", 0, lk, 1, 0, lk, True, line("spin_unlock")),
        (5, "acquire", 0, lk, 0, 1, lk, True, line("test_and_set_bit_lock")),
        (5, "rmw", 0, lk, 0, 1, -1, True, line("test_and_set_bit_lock")),
        (6, "rmw", 0, lk, 1, 0, -1, True, line("clear_bit_unlock")),
        (6, "release", 0, lk, 1, 0, lk, True, line("clear_bit_unlock")),
        (7, "fence", 0, -1, 0, 0, -1, True, line("fence")),
        (8, "spawn", 0, -1, 0, 1, 1, False, line("spawn")),
        (9, "switch", 1, -1, 0, 1, -1, False, None),      # main blocks in recv: helper runs
        (10, "send", 1, p, 0, 42, 0, False, line("send p")),
        (11, "switch", 0, -1, 1, 0, -1, False, None),     # helper sleeps; the message woke main
        (12, "recv", 0, p, 0, 42, 0, False, line("recv p")),
        (13, "wake", 0, -1, 0, 1, 1, False, line("wake helper")),
        (14, "exit", 0, -1, 0, 0, -1, False, line("    halt")),
        (14, "switch", 1, -1, 0, 1, -1, False, None),
        (15, "sleep", 1, -1, 0, 0, 1, False, line("; blocks: the message")),
        (16, "exit", 1, -1, 0, 0, -1, False, line_of(EVENTS_SOURCE, "sleep ") + 1),
    ]
    assert system.threads[0].regs[4] == 42
    assert not system.observer.violations


def test_no_observer_no_reports_same_result(rig):
    kw = {"threads": ["main", {"entry": "helper", "name": "helper", "start": False}],
          "extra_toml": '[ports]\np = "host"\n', "preemption": "voluntary"}
    plain = rig.system(EVENTS_SOURCE, **kw)
    observed = rig.system(EVENTS_SOURCE, observe=True, **kw)
    assert plain.run().as_dict() == observed.run().as_dict()
    assert rig.memory(plain) == rig.memory(observed)
    assert [t.regs for t in plain.threads] == [t.regs for t in observed.threads]


# ---------------------------------------------------------------------------------------------
# Signed arithmetic and comparisons (C's signed types), and the in-memory C frames

@covers("sar", "sdiv", "smod")
@pytest.mark.parametrize("a, b, sar, sdiv, smod", [
    (-17, 2, -5, -8, -1), (17, -5, 0, -3, 2), (-17, -5, -1, 3, -2), (100, 3, 12, 33, 1), (-1, 63, -1, 0, -1),
])
def test_signed_arithmetic(rig, a, b, sar, sdiv, smod):
    regs = regs_after(rig, f"""
        mov r1, {a}
        mov r2, {b}
        sar r3, r1, r2
        sdiv r4, r1, r2
        smod r5, r1, {b}
    """)
    assert regs[3:6] == [sar & MASK64, sdiv & MASK64, smod & MASK64]


@covers("sdiv", "smod")
@pytest.mark.parametrize("op", ["sdiv", "smod"])
def test_signed_division_by_zero_panics(rig, op):
    source = program(f"""
        mov r1, -5
        {op} r3, r1, 0   ; the fault
    """)
    _, panic = panic_of(rig, source)
    assert panic.message == "division by zero" and panic.line == line_of(source, "the fault")


@covers("blt_s", "ble_s", "bgt_s", "bge_s")
@pytest.mark.parametrize("a, b", [(-1, 1), (1, -1), (-3, -3), (0, -9223372036854775808), (5, 5)])
def test_signed_branches(rig, a, b):
    body = [f"mov r1, {a}", f"mov r2, {b}"]
    for i, op in enumerate(["blt_s", "ble_s", "bgt_s", "bge_s"]):
        body += [f"mov r{3 + i}, 0", f"{op} r1, r2, .t{i}", f"jmp .n{i}", f".t{i}:", f"mov r{3 + i}, 1", f".n{i}:"]
    regs = regs_after(rig, "\n".join(body))
    assert regs[3:7] == [int(a < b), int(a <= b), int(a > b), int(a >= b)]


@covers("enter", "leave")
def test_enter_and_leave_move_the_stack_pointer(rig):
    regs = regs_after(rig, """
        mov sp, 5000
        enter 10
        mov r1, sp
        leave 10
        mov r2, sp
    """)
    assert regs[1] == 4990 and regs[2] == 5000


@covers("enter")
def test_enter_below_the_threads_stack_panics_with_stack_overflow(rig):
    source = program("""
        enter 4   ; the overflow: an assembly thread has no C stack
    """)
    _, panic = panic_of(rig, source)
    assert panic.message.startswith("stack overflow: ") and panic.line == line_of(source, "the overflow")


# ---------------------------------------------------------------------------------------------
# Every mnemonic has a test

@pytest.mark.parametrize("op", sorted(OPS))
def test_op_is_covered(op):
    assert COVERAGE.get(op), f"no test executes {op}"


def test_coverage_names_only_real_ops():
    assert set(COVERAGE) <= set(OPS)
    assert set(COVERAGE) == set(OPS)
