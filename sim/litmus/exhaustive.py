"""Every execution of a litmus program on the simulator's own machine, by depth-first search.

At each machine state the choices are: one instruction on any core that can run, or (under tso)
draining the oldest buffered store of any core whose buffer is not empty. There is no preemption
bound and drains are choices like steps, so the set of final states is exactly what the
simulator's x86-TSO (or SC) machine can reach. States already visited are not explored again, and where a thread's next
instruction is invisible to the others (a register operation, an access to its own C stack) only
that step is taken (a persistent set of one): a litmus program then has a few hundred to a few
tens of thousands of states, even compiled from C.

What is explored is the real System (its compiled instructions, store buffers and locked
instructions), driven one instruction at a time by a forced scheduler and restored from
frames (sim.litmus.frames), so the verdict speaks for the simulator, not for a model of it.

An execution is counted once per distinct complete final state (every register and location),
which is how herd's candidate executions are told apart in tests whose loads each land in their
own register; `States` lists the distinct final states restricted to the shown locations.
"""

from __future__ import annotations

import time

from ..compiler import STORE_BUFFER_CAPACITY
from ..errors import LitmusError
from ..isa import MASK64
from ..scenario import RunOptions
from ..scheduler import Scheduler
from ..system import System
from . import frames
from .build import DATA_BASE, LitmusProgram
from .run import LitmusResult, _result

STATE_LIMIT = 2_000_000


class _Forced(Scheduler):
    """Runs the core it was told to, for one instruction."""

    name = "forced"

    def __init__(self):
        self.core = None

    def pick(self, active, instructions):
        return self.core, 1

    def state(self):
        return None

    def restore(self, state):
        pass


def _keyer(system: System):
    """The identity of a machine state: data memory, the live part of each C thread's stack (from
    its stack pointer up: words below it are dead), registers, pcs, thread states, store buffers."""
    mem = system.machines[0].mem
    stacks = system.image.stacks
    data_end = min((lo for lo, _ in stacks.values()), default=len(mem))
    live = [(t.regs, stacks[t.name][1]) for t in system.threads if t.name in stacks]
    threads, cores = system.threads, system.cores

    def key() -> tuple:
        return (tuple(mem[DATA_BASE:data_end]), tuple(tuple(mem[regs[15]:hi]) for regs, hi in live),
                tuple((tuple(t.regs), t.pc, t.state, tuple(t.calls)) for t in threads),
                tuple(tuple(c.sb.entries) if c.sb is not None else () for c in cores))
    return key


# Instructions that touch only their thread's registers, pc and call stack.
_REGISTER_OPS = frozenset("mov add sub mul and or xor shl shr not sar jmp jz jnz beq bne blt ble bgt bge blt_s "
                          "ble_s bgt_s bge_s call ret push pop enter leave nop tid cpu".split())


def _local_steps(system: System):
    """`is_local(core)`: the core's next instruction is invisible to every other thread and
    independent of every other choice: a register operation, or a plain load or store of the
    thread's own C stack (which no other thread reads; a store only while the buffer has room, as
    a full buffer would drain a shared store). Exploring only such a step where one is enabled
    loses no final state (a persistent set of one transition): a thread's frame bookkeeping then
    costs no interleavings."""
    code = system.machines[0].code
    stacks = system.image.stacks

    def is_local(core) -> bool:
        t = core.thread
        ins = code[t.pc]
        op = ins.op
        if op in _REGISTER_OPS:
            return True
        if op not in ("ld", "st") or t.name not in stacks:
            return False
        m = ins.args[1] if op == "ld" else ins.args[0]
        addr = m.disp if m.base is None else (t.regs[m.base] + m.disp) & MASK64
        lo, hi = stacks[t.name]
        return lo <= addr < hi and (op == "ld" or core.sb is None or len(core.sb.entries) < STORE_BUFFER_CAPACITY)
    return is_local


def explore_litmus(program: LitmusProgram, memory_model: str = "tso", limit: int = STATE_LIMIT) -> LitmusResult:
    start = time.perf_counter()
    system = System(program.scenario, RunOptions(memory_model=memory_model), image=program.image)
    forced = _Forced()
    system.scheduler = forced
    system.drain_probability = 0.0  # drains happen only as explicit choices
    system.run(pause_at=0)  # boot: every thread on its core, nothing executed
    readers = [program.reader(system, loc) for loc in program.shown]

    executions: dict[tuple, tuple[int, ...]] = {}
    incomplete: dict[str, int] = {}
    _key = _keyer(system)
    is_local = _local_steps(system)
    seen = {_key()}
    stack = [frames.capture(system)]
    while stack:
        frame = stack.pop()
        frames.restore(system, frame)
        local = next((c for c in system.active if is_local(c)), None)
        if local is not None:  # a step no other thread can see or disturb: one order suffices
            moves = [(True, local)]
        else:
            moves = [(True, c) for c in system.active]
            moves += [(False, c) for c in system.cores if c.sb is not None and c.sb.entries]
        for i, (step, core) in enumerate(moves):
            if i:
                frames.restore(system, frame)
            if step:
                forced.core = core
                system.run(pause_at=system.instructions + 1)
            else:
                core.sb.drain_one()
            key = _key()
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > limit:
                raise LitmusError(f"more than {limit:,} machine states: too big to enumerate "
                                  "(use --runs)", program.test.display)
            if system.outcome is not None:
                if system.outcome.outcome != "completed":
                    incomplete[system.outcome.outcome] = incomplete.get(system.outcome.outcome, 0) + 1
                    continue
                shown = tuple(read() for read in readers)
                executions[key[:3]] = shown
                continue
            stack.append(frames.capture(system))
    states: dict[tuple[int, ...], int] = {}
    for shown in executions.values():
        states[shown] = states.get(shown, 0) + 1
    result = _result(program, memory_model, True, states, incomplete, time.perf_counter() - start)
    result.explored = len(seen)
    return result


def explore_litmus_with_explorer(program: LitmusProgram, memory_model: str = "tso",
                                 limit: int = STATE_LIMIT) -> LitmusResult:
    """The same enumeration through sim.explorer's API (no preemption bound, drains as choices,
    end states collected by a key): an independent second engine, used by `revtrace litmus --engine explore` and to
    cross-check this module's in the tests. Slower on litmus programs (it snapshots the whole
    system at each state), and a spin loop does not close in its state cache, so tests with loops
    may not finish."""
    from ..explorer import explore

    start = time.perf_counter()
    readers: list = []

    def key(system):
        if not readers:  # the explorer's own System: bind the readers to it once
            readers.extend(program.reader(system, loc) for loc in program.shown)
        mem = system.machines[0].mem
        full = (tuple(mem[DATA_BASE:]), tuple(tuple(t.regs) for t in system.threads))
        return full, tuple(read() for read in readers)

    found = explore(program.scenario, RunOptions(memory_model=memory_model), preemptions=None, iterative=False,
                    stop_at_failure=False, final_key=key, image=program.image, max_states=limit)
    states: dict[tuple[int, ...], int] = {}
    for _, shown in found.final_states:
        states[shown] = states.get(shown, 0) + 1
    result = _result(program, memory_model, True, states, {}, time.perf_counter() - start)
    result.explored = found.states
    return result
