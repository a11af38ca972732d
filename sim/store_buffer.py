"""x86-TSO's per-core FIFO store buffer.

Plain stores wait here until they drain to memory; the core's own loads see them first (store-to-
load forwarding), other cores only after the drain. Fences, locked instructions and context
switches drain the whole buffer; the system drains single entries at seeded random moments.
A drained store is reported to the observer at that moment, with the site and access mode of the
store instruction that issued it (st, st_once or st_release). An observed run's entries also carry
the cycle the store was issued at (a fifth element); a row-writing observer's (RowStoreBuffer)
also the drain's row code, computed when the store instruction was compiled (a sixth), and its
row carries the issued cycle as a negative cycle offset: issued - drained - 1 (tracer.trace_writer
decodes it into `issued`). A wmb marker (addr -1, observed runs) stands for the fence among them.
"""

from __future__ import annotations

from .observer import FENCE, ROW, WRITE, row_code


def store_buffer(mem: list[int], core, observer=None, clock=None) -> StoreBuffer:
    """The store buffer of `core`: one that writes rows when the observer takes them."""
    if observer is not None and hasattr(observer, "row_writer"):
        return RowStoreBuffer(mem, core, observer, clock)
    return StoreBuffer(mem, core, observer, clock)


class StoreBuffer:
    __slots__ = ("clock", "core", "entries", "event", "mem", "pack", "write")

    def __init__(self, mem: list[int], core, observer=None, clock=None):
        """`clock` has the `cycle` a drain happens at (the System), for a row-writing observer."""
        # (addr, value, site, mode[, issued cycle[, row code]]), oldest first
        self.entries: list[tuple[int, ...]] = []
        self.mem = mem
        self.core = core
        self.event = observer.event if observer is not None else None
        self.write = None

    def load(self, addr: int) -> int:
        for e in reversed(self.entries):
            if e[0] == addr:
                return e[1]
        return self.mem[addr]

    def drain_one(self) -> None:
        e = self.entries.pop(0)
        addr, value, site, mode = e[0], e[1], e[2], e[3]
        if addr < 0:  # an observed run's wmb marker: the stores before it have drained
            if self.event is not None:
                self.event(FENCE, self.core, -1, 0, 0, site, -1, True, mode)
            return
        mem = self.mem
        old = mem[addr]
        mem[addr] = value
        if self.event is not None:
            self.event(WRITE, self.core, addr, old, value, site, -1, False, mode)

    def drain_all(self) -> None:
        while self.entries:
            self.drain_one()

    def restore(self, entries: list[tuple[int, ...]], cycle: int) -> None:
        """The entries of a snapshot (System.restore); `cycle`: the snapshot's."""
        self.entries[:] = entries


class RowStoreBuffer(StoreBuffer):
    """The store buffer of a row-writing observer (sim.observer's row protocol): a drain is one
    packed row, its code taken from the entry (sim.compiler inlines the same drain in the store
    that overflows the buffer)."""

    __slots__ = ()

    def __init__(self, mem: list[int], core, observer, clock):
        super().__init__(mem, core, observer, clock)
        self.write = observer.row_writer(core)
        self.pack = ROW.pack
        self.clock = clock

    def drain_one(self) -> None:
        e = self.entries.pop(0)
        addr = e[0]
        cycle = self.clock.cycle
        if addr < 0:  # a wmb marker: the stores before it have drained
            self.write(self.pack(row_code(e[2], FENCE, True, self.core.gid, e[3]), cycle, 0, -1, 0, 0))
            return
        mem = self.mem
        self.write(self.pack(e[5], cycle, e[4] - cycle - 1, addr, mem[addr], e[1]))
        mem[addr] = e[1]

    def restore(self, entries: list[tuple[int, ...]], cycle: int) -> None:
        """Entries of a snapshot taken without row codes get theirs; one taken without issued
        cycles (an unobserved run) says its stores were issued by the snapshot's cycle."""
        gid = self.core.gid
        self.entries[:] = [e if e[0] < 0 or len(e) > 5 else
                           (*e[:4], e[4] if len(e) > 4 else cycle, row_code(e[2], WRITE, False, gid, e[3]))
                           for e in entries]
