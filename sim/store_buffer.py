"""x86-TSO's per-core FIFO store buffer.

Plain stores wait here until they drain to memory; the core's own loads see them first (store-to-
load forwarding), other cores only after the drain. Fences, locked instructions and context
switches drain the whole buffer; the system drains single entries at seeded random moments.
A drained store is reported to the observer at that moment, with the site that issued it.
"""

from __future__ import annotations

from .observer import WRITE


class StoreBuffer:
    __slots__ = ("core", "entries", "event", "mem")

    def __init__(self, mem: list[int], core, observer=None):
        self.entries: list[tuple[int, int, int]] = []  # (addr, value, site), oldest first
        self.mem = mem
        self.core = core
        self.event = observer.event if observer is not None else None

    def load(self, addr: int) -> int:
        for a, v, _ in reversed(self.entries):
            if a == addr:
                return v
        return self.mem[addr]

    def drain_one(self) -> None:
        addr, value, site = self.entries.pop(0)
        mem = self.mem
        old = mem[addr]
        mem[addr] = value
        if self.event is not None:
            self.event(WRITE, self.core, addr, old, value, site, -1, False)

    def drain_all(self) -> None:
        while self.entries:
            self.drain_one()
