"""Reads-from coverage: which write each read saw, as (writer site, reader site) pairs.

An observer (sim.observer) that remembers, per word, the site and thread of its last write; each
read (and the read half of each read-modify-write) yields the pair (writer site, reader site),
-1 as the writer of an initial value. Coverage is the set of pairs seen so far (RFF, Wolff et al.
ASPLOS 2024, uses the same measure to tell new schedules from old ones). For each pair the first
time it is seen is kept with the threads and how many times each had executed that access, which
is what a directive (sim.directed_scheduler) needs to try to undo it.
"""

from __future__ import annotations

from sim import observer as ev


class ReadsFrom:
    def __init__(self):
        self.last: dict[tuple[int, int], tuple[int, int, int]] = {}  # (machine, addr) -> (site, thread, occurrence)
        self.count: dict[tuple[int, int], int] = {}  # (thread, site) -> accesses so far
        self.pairs: dict[tuple[int, int], tuple[int, ...]] = {}  # (w site, r site) -> first example
        self.writers: dict[tuple[int, int, int, int], None] = {}  # (machine, addr, site, thread), in order

    def attach(self, system) -> None:
        pass

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=ev.PLAIN):
        if kind > ev.RMW:  # only reads, writes and read-modify-writes
            return
        tid = core.thread.tid
        key = (tid, site)
        occ = self.count[key] = self.count.get(key, 0) + 1
        word = (core.mid, addr)
        if kind != ev.WRITE:
            w_site, w_tid, w_occ = self.last.get(word, (-1, -1, 0))
            pair = (w_site, site)
            if pair not in self.pairs:
                self.pairs[pair] = (w_site, w_tid, w_occ, site, tid, occ, core.mid, addr)
        if kind != ev.READ and (kind == ev.WRITE or old != new):
            self.last[word] = (site, tid, occ)
            self.writers.setdefault((core.mid, addr, site, tid), None)

    def examples(self) -> list[tuple[int, ...]]:
        """(w site, w thread, w occurrence, r site, r thread, r occurrence, machine, addr), in order
        of discovery."""
        return list(self.pairs.values())

    def writer_sites(self) -> list[tuple[int, int, int, int]]:
        """(machine, addr, site, thread) of every write that changed a word, in order of discovery."""
        return list(self.writers)
