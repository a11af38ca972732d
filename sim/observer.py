"""What the simulator reports, and to whom.

The simulator compiles every instruction in one of three versions: a plain one, one that reports
to an `Observer` by calls, and one that writes packed rows for an observer with `row_writer` (the
row protocol below). Without an observer the plain versions run and the hooks cost nothing at all.

`attach(system)` comes first; then every report is one call of
`Observer.event(kind, core, addr, old, new, site, sync, atomic, mode)` made after the instruction's
effect is complete (`mode`: how the access was made, see the MODE constants below). The simulator's `cycle` attribute and
`core.thread` tell the observer when and who. Under x86-TSO a plain store is reported when it
drains from the store buffer (when other cores can see it), with its original site; the buffer is
always empty when a core changes threads, so `core.thread` is still the storing thread.
"""

from __future__ import annotations

import struct
from typing import Protocol


class StopRun(Exception):
    """Raised (by setting `system.stop_requested = True` from `event`) to stop the run right after
    the current event: the instruction that reported it has had its effects, and the thread's pc
    stays on that instruction. A run stopped this way cannot be continued."""

# Event kinds. The numbers are stable (they are stored in recordings); the names are the contract.
READ = 0  # a load: addr, new = value read; old = 1 when a marked or acquire load took its value
#          from its own core's store buffer (tso forwarding: it read its own thread's store), else 0
WRITE = 1  # a store (plain, marked, release, or a lock word's atomic release): addr, old, new
RMW = 2  # atomic read-modify-write: addr, old, new (new == old when nothing changed)
ACQUIRE = 3  # a lock is taken: sync = the lock word's address; comes just BEFORE the rmw that
#             took it, so that the rmw is ordered after the previous holder's release
RELEASE = 4  # a lock was released: sync = the lock word's address; comes just AFTER its write
FENCE = 5  # a barrier; its mode says which (mb, rmb, wmb)
SEND = 6  # a message left: sync = message id, addr = port id, new = first payload word
RECV = 7  # a message was received: sync = message id, addr = port id, new = first payload word
SPAWN = 8  # a thread was started: sync = its thread id
WAKE = 9  # a thread was woken: sync = its thread id
SWITCH = 10  # a core changed threads: old = previous thread id (-1 idle), new = next thread id
PANIC = 11  # the machine panicked (BUG_ON): site = where
SLEEP = 12  # a sleep returned after consuming a wake-up: sync = this thread's id
EXIT = 13  # a thread halted

KIND_NAMES = (
    "read", "write", "rmw", "acquire", "release", "fence", "send", "recv",
    "spawn", "wake", "switch", "panic", "sleep", "exit",
)

# Access modes: how an access (or fence) was made, in the kernel's terms. Stable numbers, stored.
PLAIN = 0  # ld / st: a plain C access; two of them racing is a data race
MARKED = 1  # ld_once / st_once: READ_ONCE / WRITE_ONCE, declared concurrent (never races another
#             marked or atomic access; no ordering of its own)
ACQ = 2  # ld_acquire (smp_load_acquire), a lock taken (spin_lock, test_and_set_bit_lock)
REL = 3  # st_release (smp_store_release), a lock released (spin_unlock, clear_bit_unlock)
ATOMIC = 4  # a value-returning atomic RMW (xchg, cas, xadd, test_and_*_bit): fully ordered
ATOMIC_NORET = 5  # a non-value-returning atomic RMW (set_bit, clear_bit): unordered
MB = 6  # fence: smp_mb, a full barrier
RMB = 7  # rmb: smp_rmb, orders loads
WMB = 8  # wmb: smp_wmb, orders stores
TRYLOCK = 9  # a lock taken by spin_trylock (lockdep adds no dependency for a trylock)
MODE_NAMES = (
    "plain", "marked", "acquire", "release", "atomic", "atomic_noret", "mb", "rmb", "wmb", "trylock",
)


# The packed-row protocol, for an observer that records everything (tracer.Recorder): compiled
# instructions and store buffers then write one ROW per event instead of calling anything, which
# is several times cheaper than a Python call per event. A row is (code, cycle base, cycle
# offset, addr, old, new); `code` packs the constant part, known when the instruction is
# compiled: site, access mode, atomic, kind and the core's global number. The cycle is the sum of base and
# offset (compiled code passes its burst's first cycle and its place in the burst, which costs
# less than adding them; other writers pass the cycle and 0). The thread, clock and sync id are
# the observer's to work out (they follow from switch and synchronisation events).
ROW = struct.Struct("<qqqqQQ")  # code, cycle base, cycle offset, addr, old, new
ROW_FIELDS = 6
CODE_GID_BITS = 12  # global core numbers below 4096
CODE_KIND_SHIFT = CODE_GID_BITS
CODE_ATOMIC_SHIFT = CODE_KIND_SHIFT + 4
CODE_MODE_SHIFT = CODE_ATOMIC_SHIFT + 1
CODE_SITE_SHIFT = CODE_MODE_SHIFT + 4
MAX_CORES = 1 << CODE_GID_BITS


def row_code(site: int, kind: int, atomic: bool, gid: int, mode: int = PLAIN) -> int:
    """The code of a row; site -1 (no site) is stored as 0."""
    return (((site + 1) << CODE_SITE_SHIFT) | (mode << CODE_MODE_SHIFT) | (int(atomic) << CODE_ATOMIC_SHIFT)
            | (kind << CODE_KIND_SHIFT) | gid)


class Observer(Protocol):
    """An observer may also offer `row_writer(core)` returning `write`, which takes `ROW.pack(...)`
    bytes for every event of that core's compiled instructions (reads, writes, rmws, fences,
    acquires and releases, in the order they happen) and of its store buffer's drains. The
    system's own events (switches, spawns, messages, slow lock paths, panics, ...) still arrive
    through `event`, with `system.cycle` set. All cores' writers must share one ordered sink."""

    def attach(self, system) -> None:
        """Called once by the System being built, before it reports anything."""

    def event(self, kind: int, core, addr: int, old: int, new: int, site: int, sync: int,
              atomic: bool, mode: int = PLAIN) -> None: ...
