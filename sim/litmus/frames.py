"""A litmus program's machine state, captured and restored in microseconds.

`System.snapshot` encodes everything a scenario can hold (run queues, timers, messages in flight,
the schedulers' state) in a checked, portable format; a litmus run restores thousands of times a
second and its machine has none of those: one machine, a core per thread, no timers, no network.
A frame is then just the clock, the memory, the threads and the cores with their store buffers,
kept as Python objects. Only valid for Systems built by sim.litmus.build.
"""

from __future__ import annotations


def capture(system) -> tuple:
    assert not system.timers and not system.machines[0].run_queue, "not a litmus system"
    return (system.cycle, system.instructions, system.booted, system.machines[0].mem[:],
            [t.state_tuple() for t in system.threads],
            [(-1 if c.thread is None else c.thread.tid, c.stall_until, c.slice_end, c.spinning,
              list(c.sb.entries) if c.sb is not None else None) for c in system.cores])


def restore(system, frame: tuple) -> None:
    """Back to `frame`, which must have been captured before the run ended (no outcome)."""
    system.cycle, system.instructions, system.booted, mem, threads, cores = frame
    system.machines[0].mem[:] = mem  # in place: compiled code holds a reference to this list
    for t, ts in zip(system.threads, threads):
        t.restore(ts)
    for c, (tid, c.stall_until, c.slice_end, c.spinning, sb) in zip(system.cores, cores):
        c.thread = None if tid < 0 else system.threads[tid]
        if c.sb is not None:
            c.sb.entries[:] = sb
    system.outcome = None
    system._stop = False
    system.stopped_mid_instruction = False
    system._refresh_active()
