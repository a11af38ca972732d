"""A whole system as data: snapshots (bytes, sim.snapshot_codec, for checkpoints and replay; or
live copies for the explorer's backtracking) and restoring one, checked for shape first when it
comes from a file. A mixin of sim.system.System."""

from __future__ import annotations

from dataclasses import asdict

from . import snapshot_codec
from .outcome import outcome_from
from .schedule import SchedulePlayer
from .scheduler import PCTScheduler


class Snapshots:
    """System's snapshot, snapshot_state, restore and restore_state."""

    def snapshot(self) -> bytes:
        """The whole system as bytes: restoring them into a System of the same scenario and options
        and running on gives exactly the continuation of this run."""
        return snapshot_codec.encode(self.snapshot_state())

    def snapshot_state(self) -> dict:
        """The snapshot as live Python data (copies, never shared with the running system), for
        `restore_state` of this same System: the explorer's backtracking, without encoding."""
        return {
            "cycle": self.cycle, "instructions": self.instructions,
            "mems": [m.mem[:] for m in self.machines],
            "run_queues": [[t.tid for t in m.run_queue] for m in self.machines],
            "threads": [t.state_tuple() for t in self.threads],
            "cores": [(-1 if c.thread is None else c.thread.tid, c.stall_until, c.slice_end, c.spinning,
                       list(c.sb.entries) if c.sb is not None else None) for c in self.cores],
            "timers": list(self.timers), "timer_order": self.timer_order,
            "network": self.network.state(),
            "scheduler": self.scheduler.state(), "memory_rng": self.memory_rng.getstate(),
            "outcome": None if self.outcome is None else asdict(self.outcome), "booted": self.booted,
            "lock_owners": [sorted((a, tid, pc) for a, (tid, pc) in m.lock_owner.items()) for m in self.machines],
        }

    def restore_state(self, state: dict) -> None:
        """Continue from `snapshot_state()` of this System (trusted: no shape checks; it can be
        restored any number of times)."""
        self._restore(state)

    def restore(self, blob: bytes) -> None:
        """Continue from a snapshot (SnapshotFormatError when it is damaged or not of this system:
        nothing is changed then)."""
        state = snapshot_codec.decode(blob)
        try:
            self._check_snapshot(state)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            if isinstance(err, snapshot_codec.SnapshotFormatError):
                raise
            raise snapshot_codec.SnapshotFormatError(f"not a snapshot of this system ({err})") from None
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise snapshot_codec.SnapshotFormatError(f"not a snapshot of this system "
                                                     f"({type(err).__name__}: {err})") from None

    def _check_snapshot(self, state) -> None:
        """The shape of a decoded snapshot: what restoring it would index or size by."""
        bad = snapshot_codec.SnapshotFormatError
        if not isinstance(state, dict):
            raise bad("not a snapshot of this system (no state dictionary)")
        for key, n in (("mems", len(self.machines)), ("run_queues", len(self.machines)),
                       ("threads", len(self.threads)), ("cores", len(self.cores))):
            if not isinstance(state[key], list) or len(state[key]) != n:
                raise bad(f"not a snapshot of this system ({key}: expected {n})")
        for m, mem in zip(self.machines, state["mems"]):
            if not isinstance(mem, list) or len(mem) != len(m.mem) or not all(type(v) is int for v in mem):
                raise bad(f"not a snapshot of this system (memory of machine {m.name})")
        n_threads = len(self.threads)
        tids = [tid for rq in state["run_queues"] for tid in rq] + [c[0] for c in state["cores"]]
        if not all(type(t) is int and -1 <= t < n_threads for t in tids):
            raise bad("not a snapshot of this system (a thread id out of range)")
        for t, ts in zip(self.threads, state["threads"]):
            if not isinstance(ts, tuple) or not isinstance(ts[0], list) or len(ts[0]) != len(t.regs):
                raise bad("not a snapshot of this system (a thread's registers)")

    def _restore(self, state: dict) -> None:
        self.cycle = state["cycle"]
        self.instructions = state["instructions"]
        for m, mem, rq in zip(self.machines, state["mems"], state["run_queues"]):
            m.mem[:] = mem  # in place: compiled code holds a reference to this list
            m.run_queue[:] = [self.threads[tid] for tid in rq]
        for t, ts in zip(self.threads, state["threads"]):
            t.restore(ts)
        for c, (tid, c.stall_until, c.slice_end, c.spinning, sb) in zip(self.cores, state["cores"]):
            c.thread = None if tid < 0 else self.threads[tid]
            if c.sb is not None:
                c.sb.restore(sb, state["cycle"])
        self.timers = list(state["timers"])
        self.timer_order = state["timer_order"]
        self.network.restore(state["network"], self.threads)
        sched = state["scheduler"]
        if isinstance(self.scheduler, (PCTScheduler, SchedulePlayer)):
            self.scheduler.restore(sched, self.threads)
        else:
            self.scheduler.restore(sched)
        self.memory_rng.setstate(state["memory_rng"])
        self.outcome = outcome_from(state["outcome"])
        self.booted = state["booted"]
        for m, owners in zip(self.machines, state.get("lock_owners") or [[] for _ in self.machines]):
            m.lock_owner.clear()
            m.lock_owner.update({a: (tid, pc) for a, tid, pc in owners})
        self._stop = False
        self.stopped_mid_instruction = False
        self._refresh_active()
