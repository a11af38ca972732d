"""A directed scheduler: the random scheduler, plus delays that force chosen orderings.

A directive `(thread, site, occurrence, until_thread, until_site)` says: when `thread` is about to
execute the instruction at `site` for the `occurrence`-th time (1-based), hold it there until
`until_thread` has executed the instruction at `until_site` (any occurrence, from then on). With
`until_site = -1` the thread is simply held for HOLD_STEPS instructions of the others. A held
thread is released early when no other core can make progress (none can run, or all that can
are spin-waiting, perhaps for a lock the held thread holds) or after HOLD_STEPS instructions: a
delay is what a real CPU suffers (an interrupt, a cache miss, a preempted vCPU), it never hangs
the machine, so a fixed variant cannot fail because of a directive.

This is how `revtrace hunt` (hunt/) reverses a racing pair seen in a passing run (hold the first
access until the second has happened) or asks for a different reads-from pair. Threads named by
pending directives run one instruction per decision, so that the scheduler sees every
instruction they execute; everyone else gets the random scheduler's bursts of 1..max_burst.
Everything is a function of (seed, directives).
"""

from __future__ import annotations

import random

from .scheduler import Scheduler

HOLD_STEPS = 5_000

WAITING, HOLDING, DONE = 0, 1, 2


class DirectedScheduler(Scheduler):
    name = "directed"

    def __init__(self, seed: int, directives, image, max_burst: int = 32):
        self.rng = random.Random(seed)
        self.max_burst = max_burst
        sites = image.sites
        # [thread, pc, occurrence, until thread, until pc (-1: a fixed hold), status, executed, held since]
        self.directives = [[t, sites[s].pc, occ, ut, sites[us].pc if us >= 0 else -1, WAITING, 0, 0]
                           for t, s, occ, ut, us in directives]
        self.last: tuple[int, int] | None = None  # (thread, pc) of the single step just run

    def _watched(self, tid: int) -> bool:
        for d in self.directives:
            if (d[5] == WAITING and d[0] == tid) or (d[5] == HOLDING and d[3] == tid):
                return True
        return False

    def pick(self, active, instructions):
        last = self.last
        if last is not None:
            tid, pc = last
            for d in self.directives:
                if d[5] == WAITING and d[0] == tid and d[1] == pc:
                    d[6] += 1  # one more execution of the site before the one to hold
                elif d[5] == HOLDING and d[3] == tid and d[4] == pc:
                    d[5] = DONE  # the other access happened: let the held thread go
        held = set()
        for d in self.directives:
            if d[5] == WAITING:
                for core in active:
                    t = core.thread
                    if t.tid == d[0] and t.pc == d[1] and d[6] == d[2] - 1:
                        d[5], d[7] = HOLDING, instructions
                        break
            if d[5] == HOLDING:
                if instructions - d[7] >= HOLD_STEPS:
                    d[5] = DONE
                else:
                    held.add(d[0])
        candidates = [c for c in active if c.thread.tid not in held]
        if held and all(c.spinning for c in candidates):
            # nobody else can make progress (idle, or spinning, maybe on a lock the held thread
            # holds): a delay ends, it does not hang the machine
            for d in self.directives:
                if d[5] == HOLDING:
                    d[5] = DONE
            candidates = active
            for d in self.directives:
                if d[5] == HOLDING:
                    d[5] = DONE
            candidates = active
        r = self.rng.getrandbits(32)
        core = candidates[(r >> 16) % len(candidates)]
        tid = core.thread.tid
        if self._watched(tid):
            self.last = (tid, core.thread.pc)
            return core, 1
        self.last = None
        return core, 1 + (r & 0xFFFF) % self.max_burst

    def released(self) -> list[bool]:
        """For each directive: did it take effect (its thread was held and released)?"""
        return [d[5] == DONE and d[6] == d[2] - 1 for d in self.directives]

    def state(self):
        return (self.rng.getstate(), [list(d) for d in self.directives], self.last)

    def restore(self, state):
        rng, directives, self.last = state
        self.rng.setstate(rng)
        self.directives = [list(d) for d in directives]
