"""Which encoding each column of the index's `accesses` gets, worked out while the build's first
pass reads the events (queries/index_build.py; the encodings themselves are columns.py's):

- look-ups (columns.LUT_SEP): columns that are a function of `site` (`kind`, `mode`, `atomic`:
  how the instruction accesses memory; a TSO drain and each row of an RMW carry their
  instruction's site) or of `thread` (`core`, `machine`: when no thread moved to another core)
  cost nothing per access. `Lookups` checks the dependency on every access; one exception and
  the columns are stored as before.
- split columns (columns.SPLIT_HI / SPLIT_LO): `seq`, `cycle`, `new`, `old` (or `old_rel`),
  `clock` and `issued_rel` as their low 8 or 16 bits plus their high part run-end encoded, when
  that is estimated to be smaller (`SplitRuns`: every SAMPLE_EVERY-th batch's accesses in word
  order; counting every batch cost more than the rest of pass 1). Pass 2 then counts the runs
  exactly as it writes the low parts, and the high parts go last in the column file, so their
  size need not be known before.
"""

from __future__ import annotations

import numpy as np

from . import columns as C

# key column -> the columns that may be a function of it
LUT_GROUPS = {"site": ("kind", "mode", "atomic"), "thread": ("core", "machine")}
LUT_LIMIT = 1 << 20  # the largest key value a look-up table may have (entries, one byte or two each)
SPLIT_COLUMNS = ("seq", "cycle", "new", "old", "old_rel", "clock", "issued_rel")
SPLIT_BITS = (8, 16)
SPLIT_GAIN = 0.1  # a split must save at least this share of the column's (estimated) bytes
# ... and have at most one high-part run per this many accesses: SQL reads a run-end encoded
# column run by run (seq split at one run per 16 accesses, on the synthetic 10M-event run, made
# a SQL look-up of one word 51 ms instead of 24: DuckDB scans the whole column)
SPLIT_ROWS_PER_RUN = 32
SAMPLE_EVERY = 16  # batches: the split estimate looks at batch 0, 16, 32, ...


class Lookups:
    """For each key of LUT_GROUPS: are its columns a function of it, and which (the columns'
    values packed into one number per key value)."""

    def __init__(self):
        self.tables: dict[str, np.ndarray | None] = {key: np.full(64, -1, dtype=np.int64) for key in LUT_GROUPS}

    @staticmethod
    def packed(key: str, columns: dict[str, np.ndarray]) -> np.ndarray:
        """The group's values in one int64 (kind, mode: codes below 64; core, machine: below 2**20)."""
        if key == "site":
            return ((columns["kind"].astype(np.int16) << 8) | (columns["mode"].astype(np.int16) << 1)
                    | columns["atomic"].astype(np.int16))
        return (columns["machine"].astype(np.int64) << 20) | columns["core"].astype(np.int64)

    def add(self, columns: dict[str, np.ndarray], is_access: np.ndarray | None) -> None:
        """One batch's events (is_access: which are accesses, None for all)."""
        for key in LUT_GROUPS:
            table = self.tables[key]
            if table is None:
                continue
            k = columns[key]
            if is_access is not None:
                k = np.where(is_access, k, 0)
            if len(k) == 0:
                continue
            lo, hi = int(k.min()), int(k.max())
            if lo < 0 or hi >= LUT_LIMIT:
                self.tables[key] = None
                continue
            if hi >= len(table):
                table = np.concatenate([table, np.full(max(hi + 1, 2 * len(table)) - len(table), -1, np.int64)])
            value = self.packed(key, columns)
            seen = table[k]
            clash = (seen >= 0) & (seen != value)
            if is_access is not None:
                clash &= is_access
                value = np.where(is_access, value, seen)  # other events leave the table as it was
            if clash.any():
                self.tables[key] = None
                continue
            table[k] = value
            same = table[k] == value
            if not (same.all() if is_access is None else (same | ~is_access).all()):  # two values for one key
                self.tables[key] = None
                continue
            self.tables[key] = table

    def chosen(self, key_types: dict[str, str]) -> dict[str, tuple[str, np.ndarray]]:
        """column -> (its type, "VALUE@KEY", and its table by key value) for every column that is
        a function of its key (key values no access has: 0, never read)."""
        out = {}
        for key, table in self.tables.items():
            if table is None or key_types.get(key) not in ("int8", "int16", "int32"):
                continue
            used = np.maximum(table[: int(np.max(np.flatnonzero(table >= 0), initial=-1)) + 1], 0)
            if key == "site":
                parts = {"kind": ("kind", (used >> 8) & 0x3F), "mode": ("mode", (used >> 1) & 0x7F),
                         "atomic": ("bool", used & 1)}
            else:
                parts = {"core": ("int16", used & 0xFFFFF), "machine": ("int16", used >> 20)}
            for name, (value, t) in parts.items():
                if value == "int16":
                    value = C.narrowest_int(int(t.min(initial=0)), int(t.max(initial=0)))
                out[name] = (f"{value}{C.LUT_SEP}{key}", t)
        return out


class SplitRuns:
    """An estimate of how many runs each SPLIT_COLUMNS column's high part (value >> bits, for each
    of SPLIT_BITS) has in (addr, seq) order, runs broken at each word's first row: every word's
    first row starts one (counted exactly: the number of words), and the other runs start where
    a word's high part changes from one access to its next, counted in a sample of batches (every
    SAMPLE_EVERY-th: sorting each batch by word costs more than the rest of pass 1) and scaled
    to all accesses. Each word's last high part is carried through every batch (cheap: a gather
    per word present), so a sampled batch's counts are exact."""

    def __init__(self):
        self.keys = [(name, bits) for name in SPLIT_COLUMNS for bits in SPLIT_BITS]
        self.changes = dict.fromkeys(self.keys, 0)  # in the sampled batches, runs other than word starts
        self.sampled = 0  # accesses in the sampled batches
        self.last = {k: np.zeros(4096, dtype=np.int64) for k in self.keys}  # by word id
        self.seen = np.zeros(4096, dtype=bool)  # by word id: accessed in an earlier batch
        self.last_row = np.zeros(4096, dtype=np.int64)  # scratch: a word's last row in a batch

    def add(self, ids: np.ndarray, present: np.ndarray, column, sample: bool) -> None:
        """One batch's accesses (in seq order): their word ids, the words present (ascending) and
        `column(name, rows)`, a SPLIT_COLUMNS column's values at those of its rows (None: no such
        column); `sample`: count this batch's changes."""
        if len(ids) == 0:
            return
        top = int(present[-1]) + 1
        if top > len(self.seen):
            size = max(top, 2 * len(self.seen))
            grow = size - len(self.seen)
            self.seen = np.concatenate([self.seen, np.zeros(grow, dtype=bool)])
            self.last_row = np.concatenate([self.last_row, np.zeros(grow, dtype=np.int64)])
            for k, v in self.last.items():
                self.last[k] = np.concatenate([v, np.zeros(grow, dtype=np.int64)])
        if sample:
            order = np.argsort(ids, kind="stable")  # each word's accesses together, in seq order
            w = ids[order]
            first = np.empty(len(w), dtype=bool)
            first[0] = True
            np.not_equal(w[1:], w[:-1], out=first[1:])
            fw = w[first]
            carried = self.seen[fw]
            self.sampled += len(w)
        self.last_row[ids] = np.arange(len(ids))  # (repeated ids: the last assignment stays)
        last_rows = self.last_row[present]
        for name in SPLIT_COLUMNS:
            at_last = column(name, last_rows)
            if at_last is None:
                continue
            ordered = column(name, order) if sample else None
            for bits in SPLIT_BITS:
                prev = self.last[(name, bits)]
                if sample:
                    h = ordered >> bits
                    change = np.empty(len(h), dtype=bool)
                    change[0] = False
                    np.not_equal(h[1:], h[:-1], out=change[1:])
                    change[first] = carried & (prev[fw] != h[first])
                    self.changes[(name, bits)] += int(np.count_nonzero(change))
                prev[present] = (at_last >> bits).astype(np.int64)
        self.seen[present] = True

    def estimate(self, key: tuple[str, int], words: int, rows: int) -> float:
        """The estimated runs of `key` over `rows` accesses of `words` words."""
        return words + (self.changes[key] * rows / self.sampled if self.sampled else rows)

    def choose(self, name: str, type_: str, rows: int, words: int) -> tuple[int, str] | None:
        """(bits, low part's type) when splitting column `name`, stored as `type_`, is estimated
        to save at least SPLIT_GAIN of its bytes; None otherwise."""
        if type_ not in C.TYPES or type_ in ("bool", "kind", "mode", "ree_int64") or rows == 0:
            return None
        plain = C.column_bytes(type_, rows)
        best = None
        for bits in SPLIT_BITS:
            lo = f"uint{bits}"
            if C.TYPES[lo][0].itemsize >= C.TYPES[type_][0].itemsize or (name, bits) not in self.changes:
                continue
            runs = self.estimate((name, bits), words, rows)
            size = C.column_bytes(lo, rows) + 16 * runs
            if (size <= plain * (1 - SPLIT_GAIN) and runs * SPLIT_ROWS_PER_RUN <= rows
                    and (best is None or size < best[0])):
                best = (size, bits, lo)
        return None if best is None else (best[1], best[2])
