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
        self.cols = {name: accesses.numpy(name) for name in ("cycle", "core", "thread", "site")}
        # `machine` may be run-end encoded, `old` and `issued` stored as old_rel and issued_rel
        # (columns.py): those are read a row or a slice at a time (decoding them whole would cost
        # more than every look-up)
        layout = accesses.layout
        self.machine_runs = accesses.runs("machine") if layout.column("machine")[0] == "ree_int64" else None
        self.machine = None if self.machine_runs is not None else accesses.numpy("machine")
        self.old = accesses.numpy("old") if layout.has("old") else None
        self.old_rel = None if layout.has("old") else accesses.numpy("old_rel")
        # issued: itself, or issued_rel (zero-copy), or issued_rel's one value (run-end encoded)
        self.issued = accesses.numpy("issued") if layout.has("issued") else None
        self.issued_rel = self.issued_rel_all = None
        if self.issued is None:
            if layout.column("issued_rel")[0] == "ree_int64":
                ends, values = accesses.runs("issued_rel")
                self.issued_rel_all = int(values[0]) if len(values) == 1 else None
            if self.issued_rel_all is None:
                self.issued_rel = accesses.numpy("issued_rel")
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
            hit &= ((self._old(lo, hi) ^ self.new[lo:hi]) & np.uint64(mask)) != 0
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

    def _old(self, lo: int, hi: int) -> np.ndarray:
        if self.old is not None:
            return self.old[lo:hi].astype(np.uint64)
        rel, new = self.old_rel[lo:hi].astype(np.int64), self.new[lo:hi].astype(np.int64)
        return np.where(self.kind[lo:hi] == READ, rel, new - rel).astype(np.uint64)

    def _issued(self, i: int) -> int:
        if self.issued is not None:
            return int(self.issued[i])
        rel = self.issued_rel_all if self.issued_rel is None else int(self.issued_rel[i])
        return -1 if rel == 0 else int(self.cols["cycle"][i]) - rel

    def _machine(self, i: int) -> int:
        if self.machine is not None:
            return int(self.machine[i])
        ends, values = self.machine_runs
        return int(values[int(np.searchsorted(ends, i, side="right"))])

    def row(self, i: int) -> dict:
        c = self.cols
        return {"seq": int(self.seq[i]), "cycle": int(c["cycle"][i]), "machine": self._machine(i),
                "core": int(c["core"][i]), "thread": int(c["thread"][i]), "site": int(c["site"][i]),
                "issued": self._issued(i),
                "kind": int(self.kind[i]), "atomic": bool((int(self.atomic_bits[i >> 3]) >> (i & 7)) & 1),
                "old": int(self._old(i, i + 1)[0]), "new": int(self.new[i])}
