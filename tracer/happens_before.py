"""Vector clocks for happens-before, kept FastTrack-style: each event carries only its thread's
own clock entry (an epoch); a thread's full vector clock is written out only when it changes,
which happens only at synchronisation. Every change also bumps the thread's own entry, so
(thread, epoch) names exactly one vector clock and "a happens-before b" is one comparison:

    a.clock <= vclock(b.thread, b.clock)[a.thread]

Edges (the kernel's rules; queries/README.md has an example of each):
- locks, messages, threads: release -> later acquire of the same lock word; send -> its recv;
  spawn -> the child's first event; wake -> the woken thread's next sleep return;
- reads-from synchronisation (as ThreadSanitizer does for C11 atomics): a release store
  (st_release, a lock word's release) or a value-returning atomic RMW (fully ordered in the
  kernel) -> an acquire load (ld_acquire) or an acquire / value-returning RMW that reads it,
  or reads a later RMW of the same word (an RMW continues the release sequence; a plain or marked
  store ends it). A non-value-returning RMW (set_bit, clear_bit) is unordered, as in the LKMM: it
  neither publishes nor acquires;
- fences (message passing, C11's fence rules): a wmb or full fence, then a marked store (or RMW)
  that a marked load (or any non-plain read) of another thread reads, then a rmb or full fence
  in that reader: everything before the writer's fence -> everything after the reader's fence.
  A release store read by a marked load followed by rmb / mb, and a marked store after wmb / mb
  read by an acquire load, synchronise the same way.
Plain accesses never synchronise. "Reads" is the recording's order: the latest write to the word
before the read in seq (under tso writes are recorded when they drain, i.e. become visible); a
marked or acquire load that took its value from its own store buffer (old = 1) read its own
thread's store and synchronises with nobody.

A release store buffered under tso publishes the clock its thread had when it was *issued*, not
when it drains: what the thread does between the two (loads, rmb) comes after the release in
program order, so it must not count as before it. The recorder (tracer.trace_writer) and replay
(tracer.replay_session) call `issue` at the first event of the thread after the store instruction
(or not at all, when the drain comes first): that snapshots the clock for the store and moves the
thread's epoch on; the drain then publishes the snapshot and carries the epoch it had at issue.
"""

from __future__ import annotations

from sim import observer as k

# Kinds that move vector clocks; every other event carries its thread's current epoch, except
# the accesses and fences that `access` handles (non-plain ones, and plain writes that overwrite
# a word with a published clock).
CLOCK_KINDS = (k.ACQUIRE, k.RELEASE, k.SEND, k.RECV, k.SPAWN, k.WAKE, k.SLEEP)
ACCESS_KINDS = (k.READ, k.WRITE, k.RMW)


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
        self.published: dict[int, list[int]] = {}  # word -> the release sequence's clock (S)
        self.fenced: dict[int, list[int]] = {}  # word -> the storer's clock at its last wmb/mb (F)
        self.fence_release: dict[int, list[int]] = {}  # thread -> its clock at its last wmb / mb
        self.pending: dict[int, list[int]] = {}  # thread -> clocks its non-plain reads saw, for rmb / mb
        # thread -> its buffered release stores already issued: [issued cycle, epoch, clock], oldest first
        self.issued: dict[int, list[list]] = {}

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

    def issue(self, t: int, cycle: int, seq: int) -> None:
        """A buffered release store of t, issued at `cycle`, is followed in program order by event
        `seq`: the store gets t's clock as it is, and t moves past it (from `seq` on)."""
        self.issued.setdefault(t, []).append([cycle, self.vc[t][t], self.vc[t][:]])
        self._tick(t, seq)

    def is_issued(self, t: int, cycle: int) -> bool:
        return any(e[0] == cycle for e in self.issued.get(t, ()))

    # Accesses and fences.
    def _absorb(self, t: int, *clocks: list[int] | None) -> bool:
        """Join clocks into t's; True when that changed it."""
        mine = self.vc[t]
        changed = False
        for other in clocks:
            if other is not None:
                for i, v in enumerate(other):
                    if v > mine[i]:
                        mine[i] = v
                        changed = True
        return changed

    def _note(self, t: int, *clocks: list[int] | None) -> None:
        """Remember clocks a relaxed (marked) read saw, for t's next rmb or mb."""
        for other in clocks:
            if other is not None:
                p = self.pending.get(t)
                if p is None:
                    self.pending[t] = other[:]
                else:
                    for i, v in enumerate(other):
                        if v > p[i]:
                            p[i] = v

    def access(self, kind: int, mode: int, t: int, addr: int, old: int, new: int, seq: int) -> int:
        """Apply access or fence `seq` of thread `t`; the clock (epoch) it carries."""
        if kind == k.FENCE:
            changed = mode != k.WMB and self._absorb(t, self.pending.get(t))
            if changed:
                self._tick(t, seq)
            e = self.vc[t][t]
            if mode != k.RMB:
                self.fence_release[t] = self.vc[t][:]
                self._tick(t, seq + 1)
            return e
        if kind == k.READ:
            if mode == k.PLAIN or (old == 1 and mode in (k.MARKED, k.ACQ)):  # plain, or its own store
                return self.own[t]
            if mode == k.ACQ:
                if self._absorb(t, self.published.get(addr), self.fenced.get(addr)):
                    self._tick(t, seq)
            else:
                self._note(t, self.published.get(addr), self.fenced.get(addr))
            return self.vc[t][t]
        if kind == k.WRITE:
            issued = self.issued.get(t)
            if mode == k.REL and issued:  # drains in program order: the oldest issued one
                _, e, clock = issued.pop(0)
                if not issued:
                    del self.issued[t]
                self.published[addr] = clock
                self.fenced.pop(addr, None)
                return e
            if mode == k.REL:
                e = self.vc[t][t]
                self.published[addr] = self.vc[t][:]
                self.fenced.pop(addr, None)
                self._tick(t, seq + 1)
                return e
            self.published.pop(addr, None)
            fenced = self.fence_release.get(t) if mode == k.MARKED else None
            if fenced is not None:
                self.fenced[addr] = fenced
            else:
                self.fenced.pop(addr, None)
            return self.own[t]
        # an atomic read-modify-write: it reads the word, then (if it changed it) stores
        if mode == k.ATOMIC_NORET or mode == k.PLAIN:
            self._note(t, self.published.get(addr), self.fenced.get(addr))
            fenced = self.fence_release.get(t)
            if old != new and fenced is not None:
                f = self.fenced.get(addr)
                self.fenced[addr] = fenced[:] if f is None else [max(a, b) for a, b in zip(f, fenced)]
            return self.vc[t][t]
        if mode != k.REL and self._absorb(t, self.published.get(addr), self.fenced.get(addr)):
            self._tick(t, seq)
        e = self.vc[t][t]
        if old != new and mode in (k.ATOMIC, k.REL):
            s = self.published.get(addr)
            self.published[addr] = self.vc[t][:] if s is None else [max(a, b) for a, b in zip(s, self.vc[t])]
            self._tick(t, seq + 1)
        return e

    def event(self, kind: int, t: int, sync: int, seq: int, mode: int = k.PLAIN, addr: int = -1,
              old: int = 0, new: int = 0) -> int:
        """Apply event `seq` of thread `t` to the clocks; the clock (epoch) the event carries."""
        if kind <= k.RMW or kind == k.FENCE:
            return self.access(kind, mode, t, addr, old, new, seq)
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
        def copy(d: dict) -> dict:
            return {k: v[:] for k, v in d.items()}
        return ([v[:] for v in self.vc], self.started[:], copy(self.locks), copy(self.messages), copy(self.wakes),
                copy(self.published), copy(self.fenced), copy(self.fence_release), copy(self.pending),
                {t: [[c, e, v[:]] for c, e, v in q] for t, q in self.issued.items()})

    def restore(self, state: tuple) -> None:
        # a checkpoint written before buffered release stores were issued has nine fields
        vc, started, locks, messages, wakes, published, fenced, fence_release, pending = state[:9]
        issued = state[9] if len(state) > 9 else {}
        self.issued = {int(t): [[int(c), int(e), list(v)] for c, e, v in q] for t, q in issued.items()}
        self.published = {k: v[:] for k, v in published.items()}
        self.fenced = {k: v[:] for k, v in fenced.items()}
        self.fence_release = {k: v[:] for k, v in fence_release.items()}
        self.pending = {k: v[:] for k, v in pending.items()}
        self.vc = [v[:] for v in vc]
        self.own = [v[t] for t, v in enumerate(self.vc)]
        self.started = started[:]
        self.locks = {k: v[:] for k, v in locks.items()}
        self.messages = {k: v[:] for k, v in messages.items()}
        self.wakes = {k: v[:] for k, v in wakes.items()}
        self.changes = []
