"""Vector clocks for happens-before, kept FastTrack-style: each event carries only its thread's
own clock entry (an epoch); a thread's full vector clock is written out only when it changes,
which happens only at synchronisation. Every change also bumps the thread's own entry, so
(thread, epoch) names exactly one vector clock and "a happens-before b" is one comparison:

    a.clock <= vclock(b.thread, b.clock)[a.thread]

Edges: release -> later acquire of the same lock word; send -> its recv; spawn -> the child's
first event; wake -> the woken thread's next sleep return.
"""

from __future__ import annotations

from sim import observer as k

# Kinds that move vector clocks; every other event carries its thread's current epoch.
CLOCK_KINDS = (k.ACQUIRE, k.RELEASE, k.SEND, k.RECV, k.SPAWN, k.WAKE, k.SLEEP)


class HappensBefore:
    def __init__(self, threads: int):
        self.n = threads
        self.vc = [[0] * threads for _ in range(threads)]
        for t in range(threads):
            self.vc[t][t] = 1
        self.own = [1] * threads  # own[t] == vc[t][t]: the epoch an access of t carries
        self.started = [False] * threads  # initial clock written out yet?
        self.locks: dict[int, list[int]] = {}  # lock address -> clock at its last release
        self.messages: dict[int, list[int]] = {}  # message id -> sender's clock
        self.wakes: dict[int, list[int]] = {}  # woken thread -> joined wakers' clocks
        self.changes: list[tuple[int, int, int, list[int]]] = []  # (thread, epoch, seq, clock) to write

    def epoch(self, t: int) -> int:
        return self.vc[t][t]

    def start(self, t: int, seq: int) -> None:
        self.started[t] = True
        self.changes.append((t, self.vc[t][t], seq, self.vc[t][:]))

    def _join(self, t: int, other: list[int] | None) -> None:
        mine = self.vc[t]
        if other is not None:
            for i, v in enumerate(other):
                mine[i] = max(mine[i], v)

    def _tick(self, t: int, seq: int) -> None:
        self.vc[t][t] += 1
        self.own[t] = self.vc[t][t]
        self.changes.append((t, self.vc[t][t], seq, self.vc[t][:]))

    # The "before" operations publish the clock the event carries, then move past it.
    def release(self, t: int, lock: int, seq: int) -> int:
        e = self.vc[t][t]
        self.locks[lock] = self.vc[t][:]
        self._tick(t, seq + 1)
        return e

    def send(self, t: int, msg: int, seq: int) -> int:
        e = self.vc[t][t]
        self.messages[msg] = self.vc[t][:]
        self._tick(t, seq + 1)
        return e

    def wake(self, t: int, target: int, seq: int) -> int:
        e = self.vc[t][t]
        pending = self.wakes.get(target)
        if pending is None:
            self.wakes[target] = self.vc[t][:]
        else:
            for i, v in enumerate(self.vc[t]):
                pending[i] = max(pending[i], v)
        self._tick(t, seq + 1)
        return e

    def spawn(self, t: int, child: int, seq: int) -> int:
        e = self.vc[t][t]
        self._join(child, self.vc[t])
        self._tick(child, seq)
        self.started[child] = True
        self._tick(t, seq + 1)
        return e

    # The "after" operations join first, so the event itself is ordered after the source.
    def acquire(self, t: int, lock: int, seq: int) -> int:
        self._join(t, self.locks.get(lock))
        self._tick(t, seq)
        return self.vc[t][t]

    def recv(self, t: int, msg: int, seq: int) -> int:
        self._join(t, self.messages.pop(msg, None))
        self._tick(t, seq)
        return self.vc[t][t]

    def sleep(self, t: int, seq: int) -> int:
        self._join(t, self.wakes.pop(t, None))
        self._tick(t, seq)
        return self.vc[t][t]

    def event(self, kind: int, t: int, sync: int, seq: int) -> int:
        """Apply event `seq` of thread `t` to the clocks; the clock (epoch) the event carries."""
        if kind == k.ACQUIRE:
            return self.acquire(t, sync, seq)
        if kind == k.RELEASE:
            return self.release(t, sync, seq)
        if kind == k.SEND:
            return self.send(t, sync, seq)
        if kind == k.RECV:
            return self.recv(t, sync, seq)
        if kind == k.SPAWN:
            return self.spawn(t, sync, seq)
        if kind == k.WAKE:
            return self.wake(t, sync, seq)
        if kind == k.SLEEP:
            return self.sleep(t, seq)
        return self.own[t]

    def state(self) -> tuple:
        return ([v[:] for v in self.vc], self.started[:], {k: v[:] for k, v in self.locks.items()},
                {k: v[:] for k, v in self.messages.items()}, {k: v[:] for k, v in self.wakes.items()})

    def restore(self, state: tuple) -> None:
        vc, started, locks, messages, wakes = state
        self.vc = [v[:] for v in vc]
        self.own = [v[t] for t, v in enumerate(self.vc)]
        self.started = started[:]
        self.locks = {k: v[:] for k, v in locks.items()}
        self.messages = {k: v[:] for k, v in messages.items()}
        self.wakes = {k: v[:] for k, v in wakes.items()}
        self.changes = []
