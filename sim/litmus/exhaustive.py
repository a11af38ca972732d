"""Every execution of a litmus program on the simulator's own machine, by depth-first search.

At each machine state the choices are: one instruction on any core that can run, or (under tso)
draining the oldest buffered store of any core whose buffer is not empty. There is no preemption
bound and drains are choices like steps, so the set of final states is exactly what the
simulator's x86-TSO (or SC) machine can reach. States already visited are not explored again (a
litmus program is tiny: a few hundred to a few tens of thousands of states).

What is explored is the real System (its compiled instructions, store buffers and locked
instructions), driven one instruction at a time by a forced scheduler and restored from
frames (sim.litmus.frames), so the verdict speaks for the simulator, not for a model of it.

An execution is counted once per distinct complete final state (every register and location),
which is how herd's candidate executions are told apart in tests whose loads each land in their
own register; `States` lists the distinct final states restricted to the shown locations.
"""

from __future__ import annotations

import time

from ..errors import LitmusError
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


def _key(system: System) -> tuple:
    mem = system.machines[0].mem
    return (tuple(mem[DATA_BASE:]),
            tuple((tuple(t.regs), t.pc, t.state) for t in system.threads),
            tuple(tuple(c.sb.entries) if c.sb is not None else () for c in system.cores))


def explore_litmus(program: LitmusProgram, memory_model: str = "tso", limit: int = STATE_LIMIT) -> LitmusResult:
    start = time.perf_counter()
    system = System(program.scenario, RunOptions(memory_model=memory_model), image=program.image)
    forced = _Forced()
    system.scheduler = forced
    system.drain_probability = 0.0  # drains happen only as explicit choices
    system.run(pause_at=0)  # boot: every thread on its core, nothing executed
    readers = [(loc.is_mem, program.addresses.get(loc.name), loc.proc, program.registers.get(loc))
               for loc in program.shown]
    mem = system.machines[0].mem

    executions: dict[tuple, tuple[int, ...]] = {}
    incomplete: dict[str, int] = {}
    seen = {_key(system)}
    stack = [frames.capture(system)]
    while stack:
        frame = stack.pop()
        frames.restore(system, frame)
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
            key = _key(system)
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
                shown = tuple(mem[addr] if is_mem else system.threads[proc].regs[n]
                              for is_mem, addr, proc, n in readers)
                executions[key[:2]] = shown
                continue
            stack.append(frames.capture(system))
    states: dict[tuple[int, ...], int] = {}
    for shown in executions.values():
        states[shown] = states.get(shown, 0) + 1
    result = _result(program, memory_model, True, states, incomplete, time.perf_counter() - start)
    result.explored = len(seen)
    return result
