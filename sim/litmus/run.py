"""Running a litmus program: many seeded runs, or every execution of the store-buffer machine.

Seeded runs reuse one built System: its state is captured once before boot and restored for each
run (sim.litmus.frames), with the scheduler and the drain stream re-seeded (building a System costs more than running
a three-instruction thread). Tiny programs need tiny bursts: the random scheduler picks a core
and a burst of 1..`max_burst` instructions (default 2, its --max-burst), and a buffered store
drains at a scheduling decision with `drain_probability` (default 0.1), so a load often runs
while the other core's store still waits in its buffer.

`--exhaustive` enumerates instead (sim.litmus.exhaustive): the verdict is then exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..scenario import RunOptions
from ..system import System
from . import frames
from .build import LitmusProgram
from .condition import Loc, evaluate

DEFAULT_MAX_BURST = 2
DEFAULT_DRAIN_PROBABILITY = 0.1


@dataclass
class LitmusResult:
    program: LitmusProgram
    memory_model: str
    exhaustive: bool
    runs: int  # seeded runs, or executions found by the enumeration
    states: dict[tuple[int, ...], int]  # final state (values in `program.shown` order) -> runs/executions
    positive: int  # runs/executions whose final state satisfies the proposition
    negative: int
    incomplete: dict[str, int] = field(default_factory=dict)  # outcome (step_limit, panic, ...) -> runs
    explored: int = 0  # exhaustive: machine states visited
    seconds: float = 0.0
    seed: int = 0
    max_burst: int = DEFAULT_MAX_BURST
    drain_probability: float = DEFAULT_DRAIN_PROBABILITY

    @property
    def shown(self) -> list[Loc]:
        return self.program.shown

    def satisfies(self, state: tuple[int, ...]) -> bool:
        return evaluate(self.program.test.condition.prop, dict(zip(self.program.shown, state)))

    @property
    def observed(self) -> bool:
        """The proposition held in some run (exists and ~exists ask this)."""
        return self.positive > 0


class Runner:
    """One built System for a litmus program, run again and again from its captured state."""

    def __init__(self, program: LitmusProgram, memory_model: str = "tso", max_burst: int = DEFAULT_MAX_BURST,
                 drain_probability: float = DEFAULT_DRAIN_PROBABILITY):
        self.program = program
        options = RunOptions(memory_model=memory_model, max_burst=max_burst)
        self.system = System(program.scenario, options, image=program.image)
        self.system.drain_probability = drain_probability
        self.frame = frames.capture(self.system)
        self.readers = [program.reader(self.system, loc) for loc in program.shown]

    def run(self, seed: int) -> tuple[str, tuple[int, ...]]:
        """(outcome, final state) of one run."""
        system = self.system
        frames.restore(system, self.frame)
        system.scheduler.rng.seed(seed)
        system.memory_rng.seed(seed * 2654435761 + 97)
        outcome = system.run().outcome
        return outcome, tuple(read() for read in self.readers)


def run_litmus(program: LitmusProgram, memory_model: str = "tso", runs: int = 1000, seed: int = 0,
               max_burst: int = DEFAULT_MAX_BURST,
               drain_probability: float = DEFAULT_DRAIN_PROBABILITY) -> LitmusResult:
    """Seeds seed..seed+runs-1; the histogram of final states and the witness counts."""
    start = time.perf_counter()
    runner = Runner(program, memory_model, max_burst, drain_probability)
    states: dict[tuple[int, ...], int] = {}
    incomplete: dict[str, int] = {}
    for s in range(seed, seed + runs):
        outcome, state = runner.run(s)
        if outcome != "completed":
            incomplete[outcome] = incomplete.get(outcome, 0) + 1
            continue
        states[state] = states.get(state, 0) + 1
    return _result(program, memory_model, False, states, incomplete, time.perf_counter() - start,
                   seed=seed, max_burst=max_burst, drain_probability=drain_probability)


def _result(program, memory_model, exhaustive, states, incomplete, seconds, **extra) -> LitmusResult:
    prop = program.test.condition.prop
    positive = negative = 0
    for state, n in states.items():
        if evaluate(prop, dict(zip(program.shown, state))):
            positive += n
        else:
            negative += n
    runs = sum(states.values()) + sum(incomplete.values())
    return LitmusResult(program, memory_model, exhaustive, runs, dict(sorted(states.items())), positive,
                        negative, incomplete, seconds=seconds, **extra)
