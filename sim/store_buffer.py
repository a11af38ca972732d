"""x86-TSO's per-core FIFO store buffer.

Plain stores wait here until they drain to memory; the core's own loads see them first (store-to-
load forwarding), other cores only after the drain. Fences, locked instructions and context
switches drain the whole buffer; the system drains single entries at seeded random moments.
A drained store is reported to the observer at that moment, with the site and access mode of the
store instruction that issued it (st, st_once or st_release); to a row-writing observer also with
the cycle it was issued at (an observed run's entries carry it as a fifth element), packed as a
negative cycle offset: issued - drained - 1 (tracer.trace_writer decodes it into `issued`).
"""

from __future__ import annotations

from .observer import CODE_MODE_SHIFT, CODE_SITE_SHIFT, FENCE, ROW, WRITE, row_code


class StoreBuffer:
    __slots__ = ("clock", "code", "core", "entries", "event", "mem", "pack", "write")

    def __init__(self, mem: list[int], core, observer=None, clock=None):
        """`clock` has the `cycle` a drain happens at (the System), for a row-writing observer."""
        # (addr, value, site, mode[, issued cycle]), oldest first
        self.entries: list[tuple[int, ...]] = []
        self.mem = mem
        self.core = core
        self.event = observer.event if observer is not None else None
        self.write = None
        if observer is not None and hasattr(observer, "row_writer"):
            self.write = observer.row_writer(core)
            self.pack = ROW.pack
            self.code = row_code(-1, WRITE, False, core.gid)  # or-ed with the site
            self.clock = clock

    def load(self, addr: int) -> int:
        for e in reversed(self.entries):
            if e[0] == addr:
                return e[1]
        return self.mem[addr]

    def drain_one(self) -> None:
        e = self.entries.pop(0)
        addr, value, site, mode = e[0], e[1], e[2], e[3]
        if addr < 0:  # an observed run's wmb marker: the stores before it have drained
            if self.write is not None:
                self.write(self.pack(row_code(site, FENCE, True, self.core.gid, mode), self.clock.cycle, 0, -1, 0, 0))
            elif self.event is not None:
                self.event(FENCE, self.core, -1, 0, 0, site, -1, True, mode)
            return
        mem = self.mem
        old = mem[addr]
        mem[addr] = value
        if self.write is not None:
            cycle = self.clock.cycle
            issued = e[4] if len(e) > 4 else cycle  # an entry restored from an unobserved run: unknown
            self.write(self.pack(((site + 1) << CODE_SITE_SHIFT) | (mode << CODE_MODE_SHIFT) | self.code,
                                 cycle, issued - cycle - 1, addr, old, value))
        elif self.event is not None:
            self.event(WRITE, self.core, addr, old, value, site, -1, False, mode)

    def drain_all(self) -> None:
        while self.entries:
            self.drain_one()
