"""PCT for several cores: change points only where threads on different cores can overlap.

Plain PCT (sim.scheduler.PCTScheduler) draws its d-1 change points uniformly over all k steps of
a run. On a multi-core machine much of a run has a single runnable core (the others idle, blocked
on a message, stalled in a delay): a change point there changes nothing that matters, since no
other core could have run in between. This variant counts only the overlap steps, the
instructions executed while at least two cores had a runnable thread, draws its change points
uniformly over those (k = the overlap steps of a measured run, see sim.strategies), and advances
towards the next change point only while cores overlap. Its guarantee is PCT's with k the number
of overlap steps, which is smaller, so the bound 1/(n * k^(d-1)) is larger.
"""

from __future__ import annotations

from .scheduler import PCTScheduler


class MultiCorePCTScheduler(PCTScheduler):
    name = "pct-mc"

    def __init__(self, seed: int, threads: int, depth: int, steps: int):
        super().__init__(seed, threads, depth, steps)
        self.overlap = 0  # instructions run while two or more cores could run
        self.prev_instructions = 0
        self.prev_overlapping = False

    def clock(self, active, instructions):
        if self.prev_overlapping:
            self.overlap += instructions - self.prev_instructions
        self.prev_instructions = instructions
        self.prev_overlapping = len(active) >= 2
        return self.overlap

    def state(self):
        return (*super().state(), self.overlap, self.prev_instructions, self.prev_overlapping)

    def restore(self, state, threads=None):
        *base, self.overlap, self.prev_instructions, self.prev_overlapping = state
        super().restore(tuple(base), threads)
