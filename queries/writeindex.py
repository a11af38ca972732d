"""The last-writer fast path: binary search in the memory-mapped accesses.

The `accesses` column file (index.py, columns.py) holds every read, write and rmw in (addr, seq)
order and `word_offsets` (in index.duckdb) gives each word's first row and count, so a word's
accesses are one contiguous, seq-sorted slice of every column. A last-writer look-up is a binary
search on seq in that slice, then a backward scan, in growing chunks, for the last write (a kind
other than read; for a bit, one whose old and new differ in it). The answers equal
queries/sql/last_writer*.sql (the tests check it); this is only faster.
"""

from __future__ import annotations

import duckdb
import numpy as np

from .columns import Mapped

READ = 0


class WriteIndex:
    def __init__(self, accesses: Mapped, con: duckdb.DuckDBPyConnection):
        self.acc = accesses
        self.seq = accesses.numpy("seq")
        self.kind = accesses.numpy("kind")
        self.new = accesses.numpy("new")  # zero-copy (in the narrowest unsigned type)
        # old and the rest are read a slice or a row at a time: `old` may be stored as
        # old_rel and `machine` run-end encoded (columns.py), and decoding them whole would cost
        # more than every look-up
        self.atomic_bits = accesses.raw("atomic")  # bit-packed, least significant bit first
        rows = con.execute("SELECT addr, start, count FROM word_offsets ORDER BY addr").fetchnumpy()
        self.addrs = np.asarray(rows["addr"], dtype=np.int64)
        self.starts = np.asarray(rows["start"], dtype=np.int64)
        self.counts = np.asarray(rows["count"], dtype=np.int64)

    def span(self, addr: int) -> tuple[int, int]:
        """Row range [start, end) of the word's accesses (empty when nothing accessed it)."""
        i = int(np.searchsorted(self.addrs, addr))
        if i < len(self.addrs) and self.addrs[i] == addr:
            s = int(self.starts[i])
            return s, s + int(self.counts[i])
        return 0, 0

    def _writes(self, lo: int, hi: int, mask: int) -> np.ndarray:
        """Which rows of [lo, hi) are writes (that changed a bit of mask, if given)."""
        hit = self.kind[lo:hi] != READ
        if mask:
            old = self.acc.numpy("old", lo, hi).astype(np.uint64)
            hit &= ((old ^ self.new[lo:hi]) & np.uint64(mask)) != 0
        return hit

    def last_before(self, addr: int, before: int, mask: int = 0) -> int | None:
        """Row of the last write to addr with seq < before (that changed a bit of mask, if given)."""
        s, e = self.span(addr)
        if s == e:
            return None
        hi = s + int(np.searchsorted(self.seq[s:e], before, side="left"))
        step = 64
        while hi > s:
            lo = max(s, hi - step)
            hit = np.flatnonzero(self._writes(lo, hi, mask))
            if len(hit):
                return lo + int(hit[-1])
            hi = lo
            step *= 8
        return None

    def rows(self, addr: int, mask: int = 0, before: int | None = None) -> np.ndarray:
        """Rows of every write to addr (with seq < before; changing a bit of mask, if given)."""
        s, e = self.span(addr)
        if before is not None and e > s:
            e = s + int(np.searchsorted(self.seq[s:e], before, side="left"))
        if e <= s:
            return np.empty(0, dtype=np.int64)
        return s + np.flatnonzero(self._writes(s, e, mask))

    def addr_of(self, row: int) -> int:
        i = int(np.searchsorted(self.starts, row, side="right")) - 1
        return int(self.addrs[i])

    def row(self, i: int) -> dict:
        c = {name: int(self.acc.numpy(name, i, i + 1)[0])
             for name in ("cycle", "machine", "core", "thread", "site", "old", "new", "issued")}
        return {"seq": int(self.seq[i]), **c, "kind": int(self.kind[i]),
                "atomic": bool((int(self.atomic_bits[i >> 3]) >> (i & 7)) & 1)}
