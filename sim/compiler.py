"""Decode once: every instruction becomes a small specialised Python function.

For a chunk of one machine's code and one execution mode (memory model x how events are
reported: not at all, by calls, or as packed rows) we generate the source of a factory
`make(core, mem, ...)` whose nested functions are the instructions, with register numbers,
constants, sites and branch targets inlined; `exec` runs once per distinct chunk and mode
(cached), and calling the factory per core costs microseconds. A chunk compiles when one of its
instructions first runs (LazyCode), so loading a program costs no compiling at all. The step loop
then only dispatches: `pc = code[pc](regs)`.

An instruction that changes scheduling state (locks, sleep, send, delay, ...) or is rare raises
`Slow` before doing anything; the loop then runs it through `System.slow_op` with the exact cycle.
Faults propagate as Python exceptions (IndexError for a bad address or an empty stack,
ZeroDivisionError) and the loop turns them into a panic at that pc.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .gc_pause import paused_gc
from .isa import MASK64, STACK_WORDS, Imm, Mem, Reg
from .observer import (
    ACQ, ACQUIRE, ATOMIC, ATOMIC_NORET, FENCE, MARKED, MB, READ, REL, RELEASE, RMB, RMW, ROW, WMB, WRITE,
    row_code,
)
from .observer import PLAIN as UNORDERED  # the plain access mode (PLAIN below is a way of compiling)
from .program import Instr

STORE_BUFFER_CAPACITY = 8


class Slow(Exception):
    """Raised by an instruction that the system must execute itself (see module docstring)."""


# Ops the system executes itself (System.slow_op). bug_on is slow only when it fires.
SLOW_OPS = frozenset({
    "spin_trylock", "test_and_set_bit_lock", "clear_bit_unlock",
    "pause", "sleep", "wake", "spawn", "delay", "msleep", "halt", "send", "recv", "bug",
})
# Ops with an inline fast path for the common case that raise Slow otherwise: bug_on when it
# fires, preempt_enable on underflow, spin_lock when contended, spin_unlock when not held,
# yield when another thread waits for a core.
CONDITIONALLY_SLOW_OPS = frozenset({"bug_on", "preempt_enable", "spin_lock", "spin_unlock", "yield", "enter",
                                    "call", "push"})

_ARITH = {
    "add": "({a} + {v}) & M", "sub": "({a} - {v}) & M", "mul": "({a} * {v}) & M",
    "div": "{a} // {v}", "mod": "{a} % {v}", "and": "{a} & {v}", "or": "{a} | {v}",
    "xor": "{a} ^ {v}", "shl": "({a} << ({v} & 63)) & M", "shr": "{a} >> ({v} & 63)",
    "sar": "(({a} ^ B) - B >> ({v} & 63)) & M", "sdiv": "sdiv({a}, {v})", "smod": "smod({a}, {v})",
}
_BRANCH = {"beq": "==", "bne": "!=", "blt": "<", "ble": "<=", "bgt": ">", "bge": ">="}
# Loads and stores and the access mode each records (to the machine they are all ld / st).
LOAD_MODES = {"ld": UNORDERED, "ld_once": MARKED, "ld_acquire": ACQ}
STORE_MODES = {"st": UNORDERED, "st_once": MARKED, "st_release": REL}
FENCE_MODES = {"fence": MB, "rmb": RMB, "wmb": WMB}
# Atomic read-modify-writes: value-returning ones are fully ordered in the kernel, the others not.
RMW_MODES = {"xchg": ATOMIC, "cas": ATOMIC, "xadd": ATOMIC, "test_and_set_bit": ATOMIC,
             "test_and_clear_bit": ATOMIC, "set_bit": ATOMIC_NORET, "clear_bit": ATOMIC_NORET}
_SIGNED_BRANCH = {"blt_s": "<", "ble_s": "<=", "bgt_s": ">", "bge_s": ">="}
SIGN_BIT = 1 << 63


def _signed(x: int) -> int:
    return x - (1 << 64) if x & SIGN_BIT else x


def _sdiv(a: int, b: int) -> int:
    """C's signed division of two words, truncating toward zero (ZeroDivisionError for b == 0)."""
    a, b = _signed(a), _signed(b)
    q = abs(a) // abs(b)
    return (q if (a < 0) == (b < 0) else -q) & MASK64


def _smod(a: int, b: int) -> int:
    sa, sb = _signed(a), _signed(b)
    q = abs(sa) // abs(sb)
    q = q if (sa < 0) == (sb < 0) else -q
    return (sa - sb * q) & MASK64


def _val(op) -> str:
    if isinstance(op, Reg):
        return f"regs[{op.n}]"
    assert isinstance(op, Imm)
    return str(op.value)


def _addr(m: Mem) -> str:
    if m.base is None:
        return str(m.disp)
    if m.disp == 0:
        return f"regs[{m.base}]"
    return f"((regs[{m.base}] + {m.disp}) & M)"


def _bit_consts(v) -> tuple[str, str]:
    """(bit number expression, mask expression) for a bit operand."""
    if isinstance(v, Imm):
        b = v.value & 63
        return str(b), str(1 << b)
    return f"({_val(v)} & 63)", f"(1 << ({_val(v)} & 63))"


PLAIN, CALLS, ROWS = "plain", "calls", "rows"  # how compiled code reports events


def _body(ins: Instr, pc: int, tso: bool, mode: str, codes: dict[str, int] | None = None) -> list[str]:
    """The statements of one instruction's function (without the def line). Under ROWS, the row
    codes the statements use are added to `codes` (name -> code without the core number)."""
    op, args, site = ins.op, ins.args, ins.site
    npc = pc + 1
    observed = mode != PLAIN

    def report(kind: int, addr: str, old: str, new: str, sync: str = "-1", atomic: bool = False,
               how: int = UNORDERED) -> str:
        """The statement that reports an event: a packed row (the sync id follows from the kind,
        see tracer.trace_writer), or a call with the cycle. `how` is the access mode."""
        if mode == ROWS:
            name = f"K{pc}_{kind}_{int(atomic)}_{how}"
            codes[name] = row_code(site, kind, atomic, 0, how)
            return f"w(p({name}, burst[0], k, {addr}, {old}, {new}))"
        return f"ev({kind}, burst[0] + k, {addr}, {old}, {new}, {site}, {sync}, {atomic}, {how})"

    def drain(which: str) -> str:
        """A store-buffer drain; observed, it reports at the cycle published on the system."""
        return f"sysm.cycle = burst[0] + k; {which}()" if observed else f"{which}()"

    if op in SLOW_OPS:
        return ["raise Slow"]
    if op == "mov":
        return [f"regs[{args[0].n}] = {_val(args[1])}", f"return {npc}"]
    if op in LOAD_MODES:
        how = LOAD_MODES[op]
        d, m = args
        lines = [f"a = {_addr(m)}"]
        forwarded = "0"
        if tso and observed and how != UNORDERED:
            # a marked or acquire load says whether it read its own buffered store (it then reads
            # from its own thread, which the happens-before rules must know)
            lines += ["f = 0", "if sb:", "    for e in sb:", "        if e[0] == a: f = 1"]
            forwarded = "f"
        lines.append("v = load(a) if sb else mem[a]" if tso else "v = mem[a]")
        lines.append(f"regs[{d.n}] = v")
        if observed:
            lines.append(report(READ, "a", forwarded, "v", how=how))
        return lines + [f"return {npc}"]
    if op in STORE_MODES:
        how = STORE_MODES[op]
        m, v = args
        lines = [f"a = {_addr(m)}", f"v = {_val(v)}"]
        if tso and mode == ROWS:
            # the entry keeps the cycle it was issued at and its drain's row code (sim.store_buffer's
            # RowStoreBuffer); a full buffer drains its oldest store here, as RowStoreBuffer.drain_one
            # would (a wmb marker at the head goes through drain_one)
            name = f"K{pc}_{WRITE}_0_{how}"
            codes[name] = row_code(site, WRITE, False, 0, how)
            lines += ["mem[a]", f"sb.append((a, v, {site}, {how}, burst[0] + k, {name}))",
                      f"if len(sb) > {STORE_BUFFER_CAPACITY}:",
                      "    e = sb[0]",
                      "    if e[0] < 0: " + drain("drain_one"),
                      "    else:",
                      "        del sb[0]",
                      "        c = burst[0] + k",
                      "        a = e[0]",
                      "        w(p(e[5], c, e[4] - c - 1, a, mem[a], e[1]))",
                      "        mem[a] = e[1]"]
        elif tso:
            # observed, an entry also keeps the cycle it was issued at: the drain's row says it
            entry = f"(a, v, {site}, {how}, burst[0] + k)" if observed else f"(a, v, {site}, {how})"
            lines += ["mem[a]", f"sb.append({entry})",
                      f"if len(sb) > {STORE_BUFFER_CAPACITY}: " + drain("drain_one")]
        elif observed:
            lines += ["old = mem[a]", "mem[a] = v", report(WRITE, "a", "old", "v", how=how)]
        else:
            lines += ["mem[a] = v"]
        return lines + [f"return {npc}"]
    if op in _ARITH:
        d, a, v = args
        return [f"regs[{d.n}] = " + _ARITH[op].format(a=_val(a), v=_val(v)), f"return {npc}"]
    if op == "not":
        return [f"regs[{args[0].n}] = ~{_val(args[1])} & M", f"return {npc}"]
    if op == "jmp":
        return [f"return {args[0].pc}"]
    if op in ("jz", "jnz"):
        a, target = args
        taken, fall = (npc, target.pc) if op == "jz" else (target.pc, npc)
        return [f"if regs[{a.n}]: return {taken}", f"return {fall}"]
    if op in _BRANCH:
        a, v, target = args
        return [f"if regs[{a.n}] {_BRANCH[op]} {_val(v)}: return {target.pc}", f"return {npc}"]
    if op in _SIGNED_BRANCH:  # flipping the sign bit maps signed order onto unsigned order
        a, v, target = args
        rhs = str(v.value ^ SIGN_BIT) if isinstance(v, Imm) else f"({_val(v)} ^ B)"
        return [f"if (regs[{a.n}] ^ B) {_SIGNED_BRANCH[op]} {rhs}: return {target.pc}", f"return {npc}"]
    if op == "enter":  # a C frame on the thread's in-memory stack; below its bottom: overflow
        n = _val(args[0])
        lines = [f"s = regs[15] - {n}", "if s < core.thread.stack_lo: raise Slow", "regs[15] = s"]
        if mode == ROWS:  # the recorder keeps C frames on the side (queries name stack words by them)
            lines.append(f"fr((burst[0] + k, s, {site}, 1))")
        return lines + [f"return {npc}"]
    if op == "leave":
        lines = [f"regs[15] = (regs[15] + {_val(args[0])}) & M"]
        if mode == ROWS:
            lines.insert(0, f"fr((burst[0] + k, regs[15], {site}, 0))")
        return lines + [f"return {npc}"]
    if op == "call":  # the stack's depth is checked where it grows (System._op_call panics)
        return ["t = core.thread", f"if len(t.calls) + len(t.stack) >= {STACK_WORDS}: raise Slow",
                f"t.calls.append({npc})", f"return {args[0].pc}"]
    if op == "ret":
        return ["return core.thread.calls.pop()"]
    if op == "push":
        return ["t = core.thread", f"if len(t.calls) + len(t.stack) >= {STACK_WORDS}: raise Slow",
                f"t.stack.append({_val(args[0])})", f"return {npc}"]
    if op == "pop":
        return [f"regs[{args[0].n}] = core.thread.stack.pop()", f"return {npc}"]
    if op == "nop":
        return [f"return {npc}"]
    if op == "tid":
        return [f"regs[{args[0].n}] = core.thread.tid", f"return {npc}"]
    if op == "cpu":
        return [f"regs[{args[0].n}] = core.index", f"return {npc}"]
    if op == "preempt_disable":
        return ["core.thread.preempt += 1", f"return {npc}"]
    if op == "preempt_enable":
        # an unbalanced preempt_enable is a kernel bug: let the system panic on it
        return ["t = core.thread", "if not t.preempt: raise Slow", "t.preempt -= 1", f"return {npc}"]
    if op in ("kernel_enter", "kernel_exit"):
        return [f"core.thread.in_kernel = {op == 'kernel_enter'}", f"return {npc}"]
    if op == "yield":
        return ["if core.machine.run_queue and not core.thread.preempt: raise Slow", f"return {npc}"]
    if op == "spin_lock":
        lines = [f"a = {_addr(args[0])}", "t = core.thread"]
        lines.append("if sb or mem[a] or t.spinning_lock: raise Slow" if tso else
                     "if mem[a] or t.spinning_lock: raise Slow")
        lines += ["mem[a] = 1", "t.preempt += 1", f"owners[a] = (t.tid, {pc})"]
        if observed:
            lines += [report(ACQUIRE, "a", "0", "1", "a", True, ACQ), report(RMW, "a", "0", "1", atomic=True, how=ACQ)]
        return lines + [f"return {npc}"]
    if op == "spin_unlock":
        lines = [f"a = {_addr(args[0])}", "t = core.thread", "old = mem[a]"]
        lines.append("if sb or not old or not t.preempt: raise Slow" if tso else
                     "if not old or not t.preempt: raise Slow")
        lines += ["mem[a] = 0", "t.preempt -= 1", "owners.pop(a, None)"]
        if observed:
            lines += [report(WRITE, "a", "old", "0", atomic=True, how=REL),
                      report(RELEASE, "a", "old", "0", "a", True, REL)]
        return lines + [f"return {npc}"]
    if op == "bug_on":
        return [f"if regs[{args[0].n}]: raise Slow", f"return {npc}"]
    if op in FENCE_MODES:
        how = FENCE_MODES[op]
        # only the full barrier drains: under tso loads are not reordered with loads, nor stores
        # with stores, so smp_rmb and smp_wmb are compiler barriers (as in the kernel on x86)
        lines = ["if sb: " + drain("drain_all")] if tso and how == MB else []
        if observed and tso and how == WMB:
            # the stores before a wmb are still buffered: the fence is reported when it reaches the
            # head of the buffer (a marker entry, addr -1), after them and before the stores that
            # follow it, so that the recording has them in program order around it
            lines += [f"if sb: sb.append((-1, 0, {site}, {WMB}))",
                      "else: " + report(FENCE, "-1", "0", "0", atomic=True, how=how)]
        elif observed:
            lines.append(report(FENCE, "-1", "0", "0", atomic=True, how=how))
        return lines + [f"return {npc}"]
    # atomic read-modify-write: drain the store buffer first (a locked instruction does)
    lines = ["if sb: " + drain("drain_all")] if tso else []
    if op == "xchg":
        d, m, v = args
        lines += [f"a = {_addr(m)}", f"v = {_val(v)}", "old = mem[a]", "mem[a] = new = v", f"regs[{d.n}] = old"]
    elif op == "cas":
        d, m, e, n = args
        lines += [f"a = {_addr(m)}", f"e = {_val(e)}", f"new = {_val(n)}", "old = mem[a]",
                  "if old == e: mem[a] = new", "else: new = old", f"regs[{d.n}] = old"]
    elif op == "xadd":
        d, m, v = args
        lines += [f"a = {_addr(m)}", f"v = {_val(v)}", "old = mem[a]", "mem[a] = new = (old + v) & M",
                  f"regs[{d.n}] = old"]
    elif op in ("test_and_set_bit", "test_and_clear_bit"):
        d, v, m = args
        bit, mask = _bit_consts(v)
        change = f"old | {mask}" if op == "test_and_set_bit" else f"old & ~{mask} & M"
        lines += [f"a = {_addr(m)}", "old = mem[a]", f"mem[a] = new = {change}", f"regs[{d.n}] = (old >> {bit}) & 1"]
    elif op in ("set_bit", "clear_bit"):
        v, m = args
        _, mask = _bit_consts(v)
        change = f"old | {mask}" if op == "set_bit" else f"old & ~{mask} & M"
        lines += [f"a = {_addr(m)}", "old = mem[a]", f"mem[a] = new = {change}"]
    else:  # pragma: no cover - the assembler only produces known ops
        raise AssertionError(f"no code for {op}")
    if observed:
        lines.append(report(RMW, "a", "old", "new", atomic=True, how=RMW_MODES[op]))
    return lines + [f"return {npc}"]


CHUNK = 128  # instructions per compiled chunk (see LazyCode)
_PARAMS = "core, mem, sb, load, drain_one, drain_all, ev, Slow, M, sysm, burst, w, p, gid, owners, fr"


def chunk_source(code: list[Instr], first: int, end: int, tso: bool, mode: str) -> str:
    """The source of one chunk's factory `make(...)`, which returns the functions of instructions
    first..end-1.

    Observed instructions take their place in the burst as a second argument (a small int,
    cached, where the cycle itself would be a new int object per instruction); `burst[0]`, set
    once per burst by the loop, is the burst's first cycle. Rows carry both; a call gets their
    sum, and so does the system's clock just before a store-buffer drain reports. Row codes are
    constants of the factory with the core's number or-ed in once, when it is called."""
    observed = mode != PLAIN
    codes: dict[str, int] = {}
    defs = []
    pcs = range(first, end)
    for pc in pcs:
        body = _body(code[pc], pc, tso, mode, codes)
        defs.append(f"    def i{pc}(regs, k):" if observed else f"    def i{pc}(regs):")
        defs.extend("        " + line for line in body)
    out = [f"def make({_PARAMS}):"]
    out.extend(f"    {name} = {value} | gid" for name, value in codes.items())
    out.extend(defs)
    out.append("    return [" + ", ".join(f"i{pc}" for pc in pcs) + "]")
    return "\n".join(out) + "\n"


# Compiled chunk factories, once per process (sweeps and replays build many Systems of one
# program). The key holds everything chunk_source reads: the instructions (op, operands, site),
# where the chunk starts (pcs and branch targets are absolute) and the mode.
_factories: dict[tuple, Callable] = {}
compiled_chunks = 0  # chunks compiled since the process started (a cache miss each; for tests)


def chunk_factory(code: list[Instr], first: int, end: int, tso: bool, mode: str) -> Callable:
    """The compiled factory of one chunk (from the cache when the same chunk was compiled before)."""
    global compiled_chunks
    key = (tso, mode, first, tuple(code[first:end]))
    make = _factories.get(key)
    if make is None:
        namespace: dict = {"B": SIGN_BIT, "sdiv": _sdiv, "smod": _smod}
        exec(compile(chunk_source(code, first, end, tso, mode), f"<revtrace-code {first}>", "exec"), namespace)
        make = _factories[key] = namespace["make"]
        compiled_chunks += 1
    return make


class CompileFailure(RuntimeError):
    """Compiling a chunk failed: a bug of the compiler, never the program's fault. It must not
    look like one (an IndexError from here would become a panic of the simulated program)."""


class LazyCode:
    """One core's instruction functions, compiled a chunk at a time when first executed.

    Loading a program must cost time linear in its size and small (issue #14: 100,000
    instructions in under 3 s), and a program rarely runs all of its code: so building a System
    compiles nothing. Each pc first holds an entry stub (a `partial`, made in C); the stub
    compiles its chunk of CHUNK instructions (or takes it from the cache), puts the chunk's
    functions in place of the chunk's stubs in the same list, and runs its own instruction. The
    step loop keeps calling `code[pc](regs)` and never knows: after the first call of a chunk it
    only dispatches to compiled functions, as before. What runs is the same code in the same
    order, so runs stay deterministic, whenever the chunks compile."""

    __slots__ = ("code", "tso", "mode", "params", "functions")

    def __init__(self, code: list[Instr], tso: bool, mode: str, params: tuple):
        self.code, self.tso, self.mode, self.params = code, tso, mode, params
        enter = self._enter if mode == PLAIN else self._enter_observed
        with paused_gc():  # one stub per instruction, long-lived, no cycles (sim.gc_pause)
            self.functions: list[Callable] = [partial(enter, pc) for pc in range(len(code))]

    def _enter(self, pc: int, regs: list[int]) -> int:
        self._compile(pc)
        return self.functions[pc](regs)

    def _enter_observed(self, pc: int, regs: list[int], k: int) -> int:
        self._compile(pc)
        return self.functions[pc](regs, k)

    def _compile(self, pc: int) -> None:
        first = pc - pc % CHUNK
        end = min(first + CHUNK, len(self.code))
        try:
            self.functions[first:end] = chunk_factory(self.code, first, end, self.tso, self.mode)(*self.params)
        except Exception as e:
            raise CompileFailure(f"compiling instructions {first}..{end - 1} failed: {e!r}") from e

    def compile_all(self) -> None:
        """Compile every chunk now (benchmarks; a program that will run all its code anyway)."""
        for first in range(0, len(self.code), CHUNK):
            if isinstance(self.functions[first], partial):
                self._compile(first)


def compile_core(code: list[Instr], core, mem: list[int], store_buffer, observer, system=None) -> list[Callable]:
    """The instruction functions for one core (compiled lazily: LazyCode). `store_buffer` is None
    under sc; `system` is the clock the observed versions publish the cycle on. An observer with
    `row_writer` gets rows."""
    tso = store_buffer is not None
    write = emit = frame = None
    if observer is None:
        mode = PLAIN
    elif hasattr(observer, "row_writer"):
        mode = ROWS
        write = observer.row_writer(core)
        frame = getattr(observer, "frame_writer", _no_frames)
    else:
        mode = CALLS
        emit = _event_emitter(observer, core, system)
    if tso:
        sb, load, drain_one, drain_all = (store_buffer.entries, store_buffer.load,
                                          store_buffer.drain_one, store_buffer.drain_all)
    else:
        sb = load = drain_one = drain_all = None
    burst = system.burst if observer is not None else None
    params = (core, mem, sb, load, drain_one, drain_all, emit, Slow, MASK64, system, burst, write, ROW.pack, core.gid,
              core.machine.lock_owner, frame)
    return LazyCode(code, tso, mode, params).functions


def _no_frames(entry) -> None:
    """The frame writer of a row observer that does not keep C frames."""


def _event_emitter(observer, core, system) -> Callable:
    """An emitter for an observer that only has `event`: it publishes the cycle, then reports."""
    event = observer.event

    def emit(kind, cycle, addr, old, new, site, sync, atomic, mode):
        system.cycle = cycle
        event(kind, core, addr, old, new, site, sync, atomic, mode)
    return emit
