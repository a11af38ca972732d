"""Which core steps next, and for how many instructions (a burst).

A scheduler is a deterministic function of (scenario, options, seed): it sees the cores that can
step, in global core order, and returns one of them with a burst length. The system runs that many
instructions on it unless one of them blocks, spins or ends the burst otherwise. Cores advance
one at a time under one global clock; that interleaving is how parallelism is modelled.
"""

from __future__ import annotations

import random


class Scheduler:
    name = "?"
    controls_drains = False  # True: it also chooses the store-buffer drains (System._decide_hooked)

    def pick(self, active: list, instructions: int) -> tuple[object, int]:
        raise NotImplementedError

    def state(self) -> object:
        raise NotImplementedError

    def restore(self, state: object) -> None:
        raise NotImplementedError


class RandomScheduler(Scheduler):
    """A seeded uniform choice of core, with a burst of 1..max_burst instructions (default 32).

    Bursts amortise the cost of a decision; since a burst is sometimes a single instruction, every
    interleaving of two cores at instruction granularity remains possible. Short bursts
    (`--max-burst 1..4`) switch cores far more often: a thread then rarely runs to its end in one
    burst, which is what shows the relaxed outcomes of small litmus tests.
    """

    name = "random"
    BURST_BITS = 5  # default bursts of 1..32

    def __init__(self, seed: int, max_burst: int = 32):
        self.rng = random.Random(seed)
        self.bits = self.rng.getrandbits
        self.max_burst = max_burst
        if max_burst != 32:
            self.pick = self._pick_bounded

    def pick(self, active, instructions):
        # one draw: the low bits give the burst, the high ones the core (bias < 2**-20)
        r = self.bits(32)
        return active[(r >> 5) % len(active)], 1 + (r & 31)

    def _pick_bounded(self, active, instructions):
        # one draw: 16 bits for the burst, 16 for the core (bias < 2**-10 for bursts up to 64)
        r = self.bits(32)
        return active[(r >> 16) % len(active)], 1 + (r & 0xFFFF) % self.max_burst

    def state(self):
        return self.rng.getstate()

    def restore(self, state):
        self.rng.setstate(state)


class RoundRobinScheduler(Scheduler):
    """Cores take turns in order, `quantum` instructions each. The seed plays no part."""

    name = "roundrobin"

    def __init__(self, quantum: int):
        self.quantum = quantum
        self.next_gid = 0

    def pick(self, active, instructions):
        chosen = active[0]
        for core in active:
            if core.gid >= self.next_gid:
                chosen = core
                break
        self.next_gid = chosen.gid + 1
        return chosen, self.quantum

    def state(self):
        return self.next_gid

    def restore(self, state):
        self.next_gid = state


class PCTScheduler(Scheduler):
    """Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010).

    Threads get distinct random priorities d+1..d+n; d-1 change points are drawn uniformly from
    the first `steps` instructions. The highest-priority runnable thread runs; when the run reaches
    change point i, the running thread's priority drops to d-i, below every initial priority.
    A depth-d bug is then found with probability at least 1/(n * k^(d-1)).

    `steps` (k) matters: change points beyond the run's end never fire, and PCT degenerates to
    running threads one after the other. It comes from `--pct-steps`, else the scenario's
    `pct_steps`, else it is measured: the length of the run with seed 0 and no change point
    (sim.strategies.measured_pct_steps).

    A thread that spin-waits (pause, a contended spin_lock) lets lower priorities run until they
    have stepped, otherwise a spinning high-priority thread would starve the lock holder forever.
    """

    name = "pct"
    MAX_BURST = 64

    def __init__(self, seed: int, threads: int, depth: int, steps: int):
        rng = random.Random(seed)
        order = list(range(threads))
        rng.shuffle(order)
        self.depth = depth
        self.priority = [0] * threads
        for rank, tid in enumerate(order):
            self.priority[tid] = depth + 1 + rank
        self.change_points = sorted(rng.randrange(1, max(2, steps)) for _ in range(depth - 1))
        self.changed = 0  # change points passed
        self.last = None  # the thread that ran the last burst

    def clock(self, active, instructions) -> int:
        """Where the run is, in the steps change points are drawn from: every instruction."""
        return instructions

    def pick(self, active, instructions):
        now = self.clock(active, instructions)
        cps = self.change_points
        while self.changed < len(cps) and now >= cps[self.changed]:
            self.changed += 1
            if self.last is not None:
                self.priority[self.last.tid] = self.depth - self.changed
        prio = self.priority
        best = None
        for core in active:
            if not core.spinning and (best is None or prio[core.thread.tid] > prio[best.thread.tid]):
                best = core
        if best is None:  # everyone spins: let the highest try again
            for core in active:
                core.spinning = False
            best = max(active, key=lambda c: prio[c.thread.tid])
        self.last = best.thread
        burst = self.MAX_BURST
        if self.changed < len(cps):
            burst = max(1, min(burst, cps[self.changed] - now))
        return best, burst

    def state(self):
        return (self.priority[:], self.changed, None if self.last is None else self.last.tid)

    def restore(self, state, threads=None):
        priority, self.changed, last = state
        self.priority[:] = priority
        self.last = None if last is None or threads is None else threads[last]
