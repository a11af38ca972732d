"""The last-writer fast path: binary search in the memory-mapped writes sidecar.

index/writes-<build>.npy holds every write and rmw as a (6, W) uint64 array in (addr, seq) order:
rows seq, cycle, old, new, who (machine << 48 | core << 32 | thread) and where (site | kind << 32 |
atomic << 40). `write_offsets` (in index.duckdb) gives each word's first row and count. A
last-writer look-up is then two binary searches and, for a bit, a backward scan in growing
chunks. The answers equal queries/sql/last_writer*.sql (the tests check it); this is only faster.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from .index import W_CYCLE, W_NEW, W_OLD, W_SEQ, W_WHERE, W_WHO, unpack_where, unpack_who


class WriteIndex:
    def __init__(self, sidecar: Path, con: duckdb.DuckDBPyConnection):
        self.w = np.load(sidecar, mmap_mode="r")
        self.seq = self.w[W_SEQ].view(np.int64)
        self.old = self.w[W_OLD]
        self.new = self.w[W_NEW]
        rows = con.execute("SELECT addr, start, count FROM write_offsets ORDER BY addr").fetchnumpy()
        self.addrs = np.asarray(rows["addr"], dtype=np.int64)
        self.starts = np.asarray(rows["start"], dtype=np.int64)
        self.counts = np.asarray(rows["count"], dtype=np.int64)

    def span(self, addr: int) -> tuple[int, int]:
        """Row range [start, end) of the word's writes (empty when nothing wrote it)."""
        i = int(np.searchsorted(self.addrs, addr))
        if i < len(self.addrs) and self.addrs[i] == addr:
            s = int(self.starts[i])
            return s, s + int(self.counts[i])
        return 0, 0

    def last_before(self, addr: int, before: int, mask: int = 0) -> int | None:
        """Row of the last write to addr with seq < before (that changed a bit of mask, if given)."""
        s, e = self.span(addr)
        if s == e:
            return None
        hi = s + int(np.searchsorted(self.seq[s:e], before, side="left"))
        if mask == 0:
            return hi - 1 if hi > s else None
        m = np.uint64(mask)
        step = 64
        while hi > s:
            lo = max(s, hi - step)
            hit = np.flatnonzero((self.old[lo:hi] ^ self.new[lo:hi]) & m)
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
        rows = np.arange(s, e)
        if mask and len(rows):
            rows = rows[((self.old[s:e] ^ self.new[s:e]) & np.uint64(mask)) != 0]
        return rows

    def row(self, i: int) -> dict:
        col = self.w[:, i]
        machine, core, thread = unpack_who(int(col[W_WHO]))
        site, kind, atomic = unpack_where(int(col[W_WHERE]))
        return {"seq": int(col[W_SEQ]), "cycle": int(col[W_CYCLE]), "machine": machine, "core": core, "thread": thread,
                "site": site, "kind": kind, "atomic": atomic, "old": int(col[W_OLD]),
                "new": int(col[W_NEW])}
