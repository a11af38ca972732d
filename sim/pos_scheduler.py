"""Partial order sampling (POS; Yuan, Yang and Gu, CAV 2018).

A random walk over interleavings samples partial orders very unevenly: a thread with many steps
drags the others behind it, and most schedules differ only in the order of steps that commute.
POS gives every pending event a random priority, runs the highest, and, after an event e runs,
draws fresh priorities for the pending events that race with e (same word, at least one write).
Events that do not race with e keep theirs, so two independent threads do not reshuffle each
other, while every racing pair is ordered either way with probability 1/2 each time it meets.

Here an event is a thread's next visible instruction: one that touches memory (its address
computed from the registers as they are now) or changes scheduling (pause, yield, sleep, wake,
spawn, delay, msleep, halt, send, recv). Runs of local instructions (arithmetic, branches, calls:
the stack is thread-private) commute with everything, so a core whose next instruction is local
runs its straight-line run of them at once (cores in global order), and priorities decide only
among visible events, one instruction per decision. A thread's priority is drawn when its event
is first considered and dropped once the event has run. A thread that spin-waits (pause, a
contended spin_lock) runs only when no other core can, as under PCT: otherwise a spinner drawing
fresh priorities would almost always beat a lock holder stuck with a low one. Everything comes from one seeded
random.Random: POS is a deterministic function of the seed.
"""

from __future__ import annotations

import random

from .isa import MASK64, OPS, Mem
from .scheduler import Scheduler

CONTROL = frozenset({"jmp", "jz", "jnz", "beq", "bne", "blt", "ble", "bgt", "bge", "call", "ret",
                     "blt_s", "ble_s", "bgt_s", "bge_s"})
SCHEDULING = frozenset({"pause", "yield", "sleep", "wake", "spawn", "delay", "msleep", "halt", "send",
                        "recv", "spin_lock", "spin_trylock", "spin_unlock", "bug", "bug_on",
                        "preempt_enable", "preempt_disable", "kernel_enter", "kernel_exit"})


def _visible(op: str) -> bool:
    return "M" in OPS[op].signature or op in SCHEDULING


def _reads_only(op: str) -> bool:
    return op.startswith("ld")


class POSScheduler(Scheduler):
    name = "pos"

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.priority: dict[int, float] = {}  # thread id -> priority of its pending event
        self.ran: tuple | None = None  # (thread id, machine, addr, writes) of the event last run
        self.local_runs: dict[int, list[int]] = {}  # machine index -> local run length per pc

    def _local_run(self, machine) -> list[int]:
        runs = self.local_runs.get(machine.index)
        if runs is None:
            code = machine.code
            runs = [0] * (len(code) + 1)
            for pc in range(len(code) - 1, -1, -1):
                op = code[pc].op
                if _visible(op):
                    runs[pc] = 0
                elif op in CONTROL:
                    runs[pc] = 1
                else:
                    runs[pc] = 1 + runs[pc + 1]
            self.local_runs[machine.index] = runs
        return runs

    @staticmethod
    def _access(core) -> tuple[int, int, bool] | None:
        """(machine, address, writes) of the core's pending instruction, None if it touches no memory."""
        t = core.thread
        code = core.machine.code
        if not 0 <= t.pc < len(code):
            return None
        ins = code[t.pc]
        for a in ins.args:
            if isinstance(a, Mem):
                addr = a.disp if a.base is None else (t.regs[a.base] + a.disp) & MASK64
                return core.mid, addr, not _reads_only(ins.op)
        return None

    def pick(self, active, instructions):
        for core in active:  # local steps first: they commute with everything (spinners wait)
            if core.spinning:
                continue
            t = core.thread
            runs = self._local_run(core.machine)
            if 0 <= t.pc < len(runs) and runs[t.pc]:
                return core, runs[t.pc]
        priority = self.priority
        ran = self.ran
        if ran is not None:  # the last event ran: re-draw the priorities of the events racing with it
            tid, mid, addr, writes = ran
            priority.pop(tid, None)
            if addr >= 0:
                for core in active:
                    other = core.thread.tid
                    if other != tid and other in priority:
                        acc = self._access(core)
                        if acc is not None and acc[0] == mid and acc[1] == addr and (writes or acc[2]):
                            del priority[other]
        best, best_p = None, -1.0
        draw = self.rng.random
        for core in active:
            tid = core.thread.tid
            p = priority.get(tid)
            if p is None:
                p = priority[tid] = draw()
            if p > best_p and not core.spinning:
                best, best_p = core, p
        if best is None:  # everyone spins: the highest tries again
            for core in active:
                core.spinning = False
            best = max(active, key=lambda c: priority[c.thread.tid])
        acc = self._access(best)
        self.ran = (best.thread.tid, *acc) if acc is not None else (best.thread.tid, -1, -1, False)
        return best, 1

    def state(self):
        return (self.rng.getstate(), dict(self.priority), self.ran)

    def restore(self, state):
        rng, priority, self.ran = state
        self.rng.setstate(rng)
        self.priority = dict(priority)
