"""Pausing Python's cyclic garbage collector while bulk-building long-lived, acyclic objects.

Loading a program makes a few objects per instruction (Sites, Instrs, operands, entry stubs) that
all live as long as the program, and none in cycles. The cyclic collector, woken every few hundred
allocations, would only walk the growing heap again and again: about a third of the time of
loading 100,000 instructions (bench/bench_load.py). Reference counting still frees everything as
usual; the collector runs again after the block as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
