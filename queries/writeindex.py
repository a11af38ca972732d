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

from .columns import Mapped, sorted_search

READ = 0


class WriteIndex:
    def __init__(self, accesses: Mapped, con: duckdb.DuckDBPyConnection):
        self.acc = accesses
        # columns are read a row or a slice at a time, decoded as stored (columns.py: narrowed,
        # run-end encoded, split in two, looked up by site or thread, or derived): decoding
        # them whole would cost more than every look-up
        layout = accesses.layout
        self._plain = {name: accesses.raw(name) for name in ("seq", "cycle", "core", "thread", "site", "kind", "new")
                       if layout.has(name) and layout.column(name)[0] in _PLAIN}
        rows = con.execute("SELECT addr, start, count FROM word_offsets ORDER BY addr").fetchnumpy()
        self.addrs = np.asarray(rows["addr"], dtype=np.int64)
        self.starts = np.asarray(rows["start"], dtype=np.int64)
        self.counts = np.asarray(rows["count"], dtype=np.int64)

    def column(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) of a column."""
        plain = self._plain.get(name)
        return plain[lo:hi] if plain is not None else self.acc.numpy(name, lo, hi)

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        """A column's values at these rows."""
        plain = self._plain.get(name)
        return plain[rows] if plain is not None else self.acc.take(name, rows)

    def value(self, name: str, i: int) -> int:
        plain = self._plain.get(name)
        return int(plain[i]) if plain is not None else self.acc.value(name, i)

    def span(self, addr: int) -> tuple[int, int]:
        """Row range [start, end) of the word's accesses (empty when nothing accessed it)."""
        i = int(np.searchsorted(self.addrs, addr))
        if i < len(self.addrs) and self.addrs[i] == addr:
            s = int(self.starts[i])
            return s, s + int(self.counts[i])
        return 0, 0

    def _writes(self, lo: int, hi: int, mask: int) -> np.ndarray:
        """Which rows of [lo, hi) are writes (that changed a bit of mask, if given)."""
        hit = self.column("kind", lo, hi) != READ
        if mask:
            hit &= ((self.acc.numpy("old", lo, hi).astype(np.uint64) ^ self.column("new", lo, hi))
                    & np.uint64(mask)) != 0
        return hit

    def last_before(self, addr: int, before: int, mask: int = 0) -> int | None:
        """Row of the last write to addr with seq < before (that changed a bit of mask, if given)."""
        s, e = self.span(addr)
        if s == e:
            return None
        hi = self._seq_search(s, e, before)
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
            e = self._seq_search(s, e, before)
        if e <= s:
            return np.empty(0, dtype=np.int64)
        return s + np.flatnonzero(self._writes(s, e, mask))

    def addr_of(self, row: int) -> int:
        i = int(np.searchsorted(self.starts, row, side="right")) - 1
        return int(self.addrs[i])

    def _seq_search(self, s: int, e: int, before: int) -> int:
        """The first row of [s, e) (one word's rows: seq ascends) with seq >= before."""
        plain = self._plain.get("seq")
        if plain is not None:
            return s + sorted_search(plain[s:e], before, "left")
        return self.acc.search("seq", s, e, before)

    def row(self, i: int) -> dict:
        v = self.value
        acc = self.acc
        return {"seq": v("seq", i), "cycle": v("cycle", i), "machine": acc.value("machine", i),
                "core": v("core", i), "thread": v("thread", i), "site": v("site", i),
                "issued": acc.value("issued", i), "kind": v("kind", i), "atomic": bool(acc.value("atomic", i)),
                "old": acc.value("old", i) & 0xFFFFFFFFFFFFFFFF, "new": v("new", i)}


_PLAIN = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "kind", "mode"}
