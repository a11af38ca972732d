"""Column files: the index's bulk tables as plain, uncompressed Arrow buffers, memory-mapped.

A column file (`RUN/index/<table>-<build>.cols`) holds one table: each column's values one after
the other, every column starting at a 64-byte aligned offset, in exactly Arrow's in-memory layout
(little-endian fixed-width values; booleans bit-packed, least significant bit first; `kind` and
`mode` as the int8 codes of tracer.schema.KIND_NAMES and MODE_NAMES; a `ree_int64` column run-end encoded: its run ends, then
its values, `count` of each). Its layout (rows, and each column's name, type, offset and count) is
stored in the catalogue, index.duckdb's `index_info` (key `data`). Integer columns may be stored
narrower than the recording's types when every value fits (the `accesses` view widens them), as a
look-up table by another column (LUT_SEP), or split into low bits and a run-end encoded high part
(SPLIT_HI, SPLIT_LO); `Mapped.numpy`, `take`, `value` and `search` read every form the same way.

Opening one costs a `mmap` and nothing else: `Mapped.numpy` gives zero-copy numpy arrays (the
last-writer look-ups and the race engine read them), `Mapped.arrow_table` a zero-copy pyarrow Table
in record batches of `CHUNK_ROWS` that index.register hands to DuckDB (`con.register`), so SQL
scans the same bytes without a copy or a decode. Writing is `os.pwrite` of numpy arrays at a
column's offset plus a row offset, from any number of threads (pwrite releases the GIL), into a
file sized once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tracer import schema as S

ALIGN = 64
CHUNK_ROWS = 1 << 20  # rows per record batch handed to DuckDB (its unit of parallel scanning)

# column type name -> (numpy dtype of the stored values, arrow type)
TYPES: dict[str, tuple[np.dtype, pa.DataType]] = {
    "int8": (np.dtype(np.int8), pa.int8()),
    "int16": (np.dtype(np.int16), pa.int16()),
    "int32": (np.dtype(np.int32), pa.int32()),
    "int64": (np.dtype(np.int64), pa.int64()),
    "uint8": (np.dtype(np.uint8), pa.uint8()),
    "uint16": (np.dtype(np.uint16), pa.uint16()),
    "uint32": (np.dtype(np.uint32), pa.uint32()),
    "uint64": (np.dtype(np.uint64), pa.uint64()),
    "bool": (np.dtype(np.uint8), pa.bool_()),  # bit-packed: (rows + 7) // 8 bytes
    "kind": (np.dtype(np.int8), S.KIND_TYPE),  # codes into tracer.schema.KIND_NAMES
    "mode": (np.dtype(np.int8), S.MODE_TYPE),  # codes into tracer.schema.MODE_NAMES
    "ree_int64": (np.dtype(np.int64), pa.run_end_encoded(pa.int64(), pa.int64())),  # run ends, values
}


# the dictionary-encoded columns: stored as int8 codes, read back under their fixed dictionary
DICTIONARIES = {"kind": S.KIND_DICTIONARY, "mode": S.MODE_DICTIONARY}


# A column of `accesses` that is a function of another, small and non-negative, column (`kind`,
# `mode` and `atomic` of `site`: static properties of the instruction; `core` and `machine` of
# `thread` when no thread moved) is stored as a look-up table by that column's value: type
# "VALUE@KEY" (e.g. "kind@site", "bool@site", "int8@thread"), `count` entries of the value type
# (bool unpacked, one byte each). Arrow reads it as a dictionary array whose indices are the key
# column's own buffer (zero-copy: DuckDB sees an ordinary column), numpy as lut[key].
LUT_SEP = "@"


def lut_type(type_: str) -> tuple[str, str] | None:
    """(value type, key column) of a look-up column's type, or None."""
    if LUT_SEP not in type_:
        return None
    value, key = type_.split(LUT_SEP, 1)
    return value, key


# A column split in two (`split`): its high part run-end encoded as NAME_hi (runs broken at each
# word's first row, so that a word's rows never share a run with another's) and its low bits as
# NAME_lo, an unsigned 8-, 16- or 32-bit column: value = hi * 2**bits + lo. seq and cycle ascend
# within a word and a counter's values change slowly, so the high parts come in long runs: on the
# mixed benchmark seq, cycle, old and new take 2.1-2.4 bytes per access instead of 4.
SPLIT_HI, SPLIT_LO = "_hi", "_lo"
UNSIGNED = ("new", "old")  # the split columns whose values are unsigned 64-bit words


def type_name(field: pa.Field) -> str:
    if field.name in DICTIONARIES:
        return field.name
    for name, (_, t) in TYPES.items():
        if name not in DICTIONARIES and field.type == t:
            return name
    raise TypeError(f"no column file type for {field}")


def column_bytes(type_: str, count: int) -> int:
    lut = lut_type(type_)
    if lut is not None:
        return count * (1 if lut[0] == "bool" else TYPES[lut[0]][0].itemsize)
    if type_ == "bool":
        return (count + 7) // 8
    if type_ == "ree_int64":
        return 16 * count
    return count * TYPES[type_][0].itemsize


def narrowest_int(lo: int, hi: int) -> str:
    """The narrowest integer type holding every value in [lo, hi] (with room for hi + 1)."""
    for name in ("int8", "int16", "int32"):
        top = np.iinfo(TYPES[name][0]).max
        if -top <= lo and hi < top:
            return name
    return "int64"


def narrowest_uint(hi: int) -> str:
    """The narrowest unsigned type holding every value in [0, hi]."""
    for name in ("uint8", "uint16", "uint32"):
        if hi <= np.iinfo(TYPES[name][0]).max:
            return name
    return "uint64"


# A column stored as another: `old` of the accesses is stored as `old_rel` when that is narrower:
# a read's `old` itself (0, or 1 for a read of its own buffered store), a write's or rmw's
# `new - old` (1 for a counter's increment, +-2**bit for a flag), so old = new - old_rel.
# Likewise `issued` (the cycle a tso store ran at, -1 for every access that was not buffered) is
# stored as `issued_rel` when every buffered store's delay is positive: 0 when not buffered, else
# cycle - issued, the cycles it sat in the store buffer (a small number; 0 everywhere under sc, a
# column of one run: run-end encoded), so issued = -1 if issued_rel == 0 else cycle - issued_rel.
DERIVED = {"old": "old_rel", "issued": "issued_rel"}
READ_CODE = 0  # tracer.schema.KIND_NAMES.index("read")


def issued_rel(cycle: np.ndarray, issued: np.ndarray) -> np.ndarray:
    """`issued_rel` of accesses (see DERIVED)."""
    return np.where(issued < 0, 0, cycle.astype(np.int64) - issued.astype(np.int64))


def old_rel(kind: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """`old_rel` of accesses whose old and new are below 2**63 (see DERIVED)."""
    o, n = old.astype(np.int64), new.astype(np.int64)
    return np.where(kind == READ_CODE, o, n - o)


def sorted_search(a: np.ndarray, value: int, side: str = "left") -> int:
    """a.searchsorted(value, side) for an ascending integer array, with `value` given in the
    array's own type (a Python int makes numpy convert the whole array first: 4 ms per look-up
    in a word of 10M accesses)."""
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        if value > info.max:
            return len(a)
        if value < info.min:
            return 0
        value = a.dtype.type(value)
    return int(a.searchsorted(value, side=side))


@dataclass
class Layout:
    """Where each column of a table lives in its column file."""

    file: str  # relative to the run directory
    rows: int
    columns: list[tuple[str, str, int, int]]  # (name, type, offset, count)

    @classmethod
    def plan(cls, file: str, rows: int, columns: list[tuple[str, str, int]]) -> Layout:
        """columns: (name, type, count of stored values: rows, or runs for ree_int64)."""
        cols, off = [], 0
        for name, t, count in columns:
            cols.append((name, t, off, count))
            off += -(-column_bytes(t, count) // ALIGN) * ALIGN
        return cls(file, rows, cols)

    @classmethod
    def for_schema(cls, file: str, schema: pa.Schema, rows: int) -> Layout:
        return cls.plan(file, rows, [(f.name, type_name(f), rows) for f in schema])

    @property
    def size(self) -> int:
        if not self.columns:
            return 0
        _, t, off, count = self.columns[-1]
        return off + column_bytes(t, count)

    def column(self, name: str) -> tuple[str, int, int]:
        """(type, offset, count)"""
        index = self.__dict__.get("_index")
        if index is None or len(index) != len(self.columns):
            index = self.__dict__["_index"] = {n: (t, off, count) for n, t, off, count in self.columns}
        try:
            return index[name]
        except KeyError:
            raise KeyError(name) from None

    def has(self, name: str) -> bool:
        try:
            self.column(name)
        except KeyError:
            return False
        return True

    def split_bits(self, name: str) -> int:
        """The low part's bits of a column stored split (NAME_hi, NAME_lo), 0 when it is not."""
        if self.has(name) or not self.has(name + SPLIT_LO):
            return 0
        return 8 * TYPES[self.column(name + SPLIT_LO)[0]][0].itemsize

    def arrow_type(self, name: str) -> pa.DataType:
        """A stored column's Arrow type (narrow types as stored; look-ups as dictionaries)."""
        t = self.column(name)[0]
        lut = lut_type(t)
        if lut is None:
            return TYPES[t][1]
        value, key = lut
        index_type = TYPES[self.column(key)[0]][1]
        value_type = pa.string() if value in DICTIONARIES else TYPES[value][1]
        return pa.dictionary(index_type, value_type)

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the stored columns (narrow types as stored)."""
        return pa.schema([pa.field(n, self.arrow_type(n), nullable=False) for n, _, _, _ in self.columns])

    def to_json(self) -> dict:
        return {"file": self.file, "rows": self.rows, "columns": [list(c) for c in self.columns]}

    @classmethod
    def from_json(cls, d: dict) -> Layout:
        return cls(str(d["file"]), int(d["rows"]),
                   [(str(n), str(t), int(o), int(c)) for n, t, o, c in d["columns"]])


class Writer:
    """Fills one column file: sized once, then written column slice by column slice."""

    def __init__(self, path: Path, layout: Layout):
        self.layout = layout
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(self.fd, layout.size)

    def write(self, column: str, values: np.ndarray, row: int = 0) -> None:
        """Stored values (for bool: packed bytes, `row` a multiple of 8; for ree_int64: the run
        ends, then the values, each `count` long) from row `row` on."""
        t, off, _ = self.layout.column(column)
        if t == "bool":
            assert row % 8 == 0
            start = off + row // 8
        elif lut_type(t) is not None:
            assert row == 0
            start = off
        else:
            start = off + row * TYPES[t][0].itemsize
        view = memoryview(np.ascontiguousarray(values)).cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], start + done)

    def resize(self, layout: Layout) -> None:
        """Go on with a layout that only adds to or sizes this one's last columns (the columns
        already written keep their offsets)."""
        for before, after in zip(self.layout.columns, layout.columns):
            assert before[:3] == after[:3]
            if before != after:  # this column grows: nothing after it was written yet
                break
        self.layout = layout
        os.ftruncate(self.fd, layout.size)

    def close(self) -> None:
        os.close(self.fd)


def narrowed(schema: pa.Schema, columns: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(name, type) of each column, integers in the narrowest type that holds their values."""
    out = []
    for f in schema:
        t, v = type_name(f), columns[f.name]
        if t in ("int16", "int32", "int64"):
            t = narrowest_int(int(v.min()), int(v.max())) if len(v) else "int8"
        elif t == "uint64":
            t = narrowest_uint(int(v.max())) if len(v) else "uint8"
        out.append((f.name, t))
    return out


def write_table(path: Path, file: str, schema: pa.Schema, columns: dict[str, np.ndarray],
                narrow: bool = False) -> Layout:
    """A whole (small) table at once: numpy columns (bool as numpy bool, kind as int8 codes);
    with `narrow`, integers stored in the narrowest type that holds them."""
    rows = len(next(iter(columns.values()))) if columns else 0
    layout = (Layout.plan(file, rows, [(n, t, rows) for n, t in narrowed(schema, columns)]) if narrow
              else Layout.for_schema(file, schema, rows))
    w = Writer(path, layout)
    try:
        for name, t, _, _ in layout.columns:
            v = columns[name]
            if t == "bool":
                v = np.packbits(np.asarray(v, dtype=bool), bitorder="little")
            else:
                v = np.asarray(v, dtype=TYPES[t][0])
            if len(v):
                w.write(name, v)
    finally:
        w.close()
    return layout


class Mapped:
    """An open column file: zero-copy numpy arrays and a zero-copy Arrow table."""

    def __init__(self, run_path: Path, layout: Layout):
        self.layout = layout
        self.path = run_path / layout.file
        size = self.path.stat().st_size
        if size < layout.size:
            raise OSError(f"{layout.file} is {size} bytes, expected {layout.size}")
        self.buffer = pa.memory_map(str(self.path), "r").read_buffer() if layout.size else pa.py_buffer(b"")
        self._raw: dict[str, np.ndarray] = {}
        self._getters: dict = {}

    def raw(self, column: str) -> np.ndarray:
        """The stored values (bool: the packed bytes; ree_int64: run ends then values; a look-up:
        its table)."""
        got = self._raw.get(column)
        if got is None:
            t, off, count = self.layout.column(column)
            n = column_bytes(t, count)
            lut = lut_type(t)
            dtype = np.dtype(np.uint8) if lut is not None and lut[0] == "bool" else TYPES[lut[0] if lut else t][0]
            got = (np.frombuffer(self.buffer, dtype=dtype, count=n // dtype.itemsize, offset=off) if n
                   else np.empty(0, dtype=dtype))
            self._raw[column] = got
        return got

    def runs(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """A ree_int64 column's run ends and values."""
        raw = self.raw(column)
        k = len(raw) // 2
        return raw[:k], raw[k:]

    def numpy(self, column: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop) of a column; zero-copy except for bool (unpacked), run-end
        encoded, split and look-up columns (decoded) and derived ones (`old` from `old_rel`,
        `issued` from `issued_rel`: computed)."""
        stop = self.layout.rows if stop is None else stop
        layout = self.layout
        if column in DERIVED and not layout.has(column) and not layout.split_bits(column):
            rel = self.numpy(DERIVED[column], start, stop).astype(np.int64)
            if column == "issued":
                return np.where(rel == 0, -1, self.numpy("cycle", start, stop).astype(np.int64) - rel)
            new = self.numpy("new", start, stop).astype(np.int64)
            return np.where(self.numpy("kind", start, stop) == READ_CODE, rel, new - rel).astype(np.uint64)
        bits = layout.split_bits(column)
        if bits:  # each run's high part, shifted, repeated; then the low bits or-ed in, in place
            lo = self.raw(column + SPLIT_LO)[start:stop]
            values, lengths = self._run_slice(column + SPLIT_HI, start, stop)
            if column in UNSIGNED:
                base = values.astype(np.uint64) << np.uint64(bits)
                dtype = np.uint32 if not len(base) or int(base.max()) < 1 << 32 else np.uint64
            else:
                base = values << bits
                dtype = np.int32 if not len(base) or -(1 << 31) <= int(base.min()) and int(base.max()) < (1 << 31) - (1 << bits) else np.int64
            out = np.repeat(base.astype(dtype), lengths)
            np.bitwise_or(out, lo, out=out)
            return out
        t, _, _ = layout.column(column)
        lut = lut_type(t)
        if lut is not None:
            table = self.raw(column)
            got = table[self.numpy(lut[1], start, stop)]
            return got.view(bool) if lut[0] == "bool" else got
        if t == "ree_int64":
            values, lengths = self._run_slice(column, start, stop)
            return np.repeat(values, lengths)
        raw = self.raw(column)
        if t != "bool":
            return raw[start:stop]
        lo = start // 8
        bits_ = np.unpackbits(raw[lo:(stop + 7) // 8], bitorder="little")
        return bits_[start - lo * 8: stop - lo * 8].view(bool)

    def _run_slice(self, column: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """A ree_int64 column's runs over rows [start, stop): their values and lengths there."""
        ends, values = self.runs(column)
        if stop <= start:
            return values[:0], np.empty(0, dtype=np.int64)
        a = int(np.searchsorted(ends, start, side="right"))  # the run holding row start
        b = int(np.searchsorted(ends, stop, side="left")) + 1  # ... and the one after stop - 1
        run_ends = np.minimum(ends[a:b], stop)
        run_starts = np.concatenate([[start], run_ends[:-1]])
        return values[a:b], run_ends - run_starts

    def _joined(self, column: str, bits: int, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """A split column's values from its parts (`new` unsigned, the rest signed)."""
        if column in UNSIGNED:
            return (hi.astype(np.uint64) << np.uint64(bits)) | lo.astype(np.uint64)
        return (hi << bits) | lo.astype(np.int64)

    def changed(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop): a write or rmw that changed the word (old != new; with old stored
        as old_rel, a write's new - old, without reading old or new)."""
        write = self.numpy("kind", start, stop) != READ_CODE
        if not self.layout.has("old") and not self.layout.split_bits("old"):
            return write & (self.numpy("old_rel", start, stop) != 0)
        return write & (self.numpy("old", start, stop) != self.numpy("new", start, stop))

    def take(self, column: str, rows: np.ndarray) -> np.ndarray:
        """A column's values at arbitrary rows (a gather; decoded like `numpy`)."""
        rows = np.asarray(rows, dtype=np.int64)
        layout = self.layout
        if len(rows) > 64 and layout.split_bits(column):  # many rows: decode their span, then gather
            lo, hi = int(rows.min()), int(rows.max()) + 1
            if hi - lo <= 8 * len(rows):
                return self.numpy(column, lo, hi)[rows - lo]
        if column in DERIVED and not layout.has(column) and not layout.split_bits(column):
            rel = self.take(DERIVED[column], rows).astype(np.int64)
            if column == "issued":
                return np.where(rel == 0, -1, self.take("cycle", rows).astype(np.int64) - rel)
            new = self.take("new", rows).astype(np.int64)
            return np.where(self.take("kind", rows) == READ_CODE, rel, new - rel).astype(np.uint64)
        bits = layout.split_bits(column)
        if bits:
            return self._joined(column, bits, self.take(column + SPLIT_HI, rows), self.take(column + SPLIT_LO, rows))
        t, _, _ = layout.column(column)
        lut = lut_type(t)
        if lut is not None:
            got = self.raw(column)[self.take(lut[1], rows)]
            return got.view(bool) if lut[0] == "bool" else got
        if t == "ree_int64":
            ends, values = self.runs(column)
            return values[np.searchsorted(ends, rows, side="right")]
        raw = self.raw(column)
        if t == "bool":
            return ((raw[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1).astype(bool)
        return raw[rows]

    def value(self, column: str, row: int) -> int:
        """One row's value as a Python int (bool as 0 or 1): the look-ups' path, one row at a time."""
        get = self._getters.get(column)
        if get is None:
            get = self._getters[column] = self._getter(column)
        return get(row)

    def _getter(self, column: str):
        """A function row -> the column's value there, its decoding worked out once."""
        layout = self.layout
        if column in DERIVED and not layout.has(column) and not layout.split_bits(column):
            rel, cycle, kind, new = (self._getter(c) for c in (DERIVED[column], "cycle", "kind", "new"))
            if column == "issued":
                return lambda i: -1 if (r := rel(i)) == 0 else cycle(i) - r
            return lambda i: rel(i) if kind(i) == READ_CODE else new(i) - rel(i)
        bits = layout.split_bits(column)
        if bits:
            ends, values = self.runs(column + SPLIT_HI)
            lo = self.raw(column + SPLIT_LO)
            return lambda i: (int(values[ends.searchsorted(i, side="right")]) << bits) | int(lo[i])
        t, _, _ = layout.column(column)
        lut = lut_type(t)
        if lut is not None:
            table, key = self.raw(column), self._getter(lut[1])
            return lambda i: int(table[key(i)])
        if t == "ree_int64":
            ends, values = self.runs(column)
            return lambda i: int(values[ends.searchsorted(i, side="right")])
        raw = self.raw(column)
        if t == "bool":
            return lambda i: (int(raw[i >> 3]) >> (i & 7)) & 1
        return lambda i: int(raw[i])

    def search(self, column: str, start: int, stop: int, value: int, side: str = "left") -> int:
        """numpy.searchsorted over rows [start, stop) of a column that ascends there (seq within a
        word), as an absolute row; a split column is searched in its high part's runs first, then
        in the low bits of the one run that can hold `value` (where the column ascends, each high
        part is one run)."""
        bits = self.layout.split_bits(column)
        if not bits:
            return start + sorted_search(self.numpy(column, start, stop), value, side)
        if stop <= start:
            return start
        ends, values = self.runs(column + SPLIT_HI)
        a = int(ends.searchsorted(start, side="right"))  # the runs overlapping [start, stop)
        b = int(ends.searchsorted(stop, side="left")) + 1
        hi = value >> bits
        k = a + int(values[a:b].searchsorted(hi, side="left"))
        if k >= b or int(values[k]) != hi:  # no row with this high part: before run k's rows
            return stop if k >= b else max(start, int(ends[k - 1]) if k > 0 else 0)
        lo_start = max(start, int(ends[k - 1]) if k > 0 else 0)
        lo_stop = min(stop, int(ends[k]))
        lo = self.raw(column + SPLIT_LO)[lo_start:lo_stop]
        return lo_start + sorted_search(lo, value & ((1 << bits) - 1), side)

    def array(self, column: str) -> pa.Array:
        t, off, count = self.layout.column(column)
        n = column_bytes(t, count)
        buf = self.buffer.slice(off, n) if n else pa.py_buffer(b"")
        rows = self.layout.rows
        lut = lut_type(t)
        if lut is not None:
            value, key = lut
            table = self.raw(column)
            if value in DICTIONARIES:
                dictionary = DICTIONARIES[value].take(pa.array(table.astype(np.int64)))
            elif value == "bool":
                dictionary = pa.array(table.astype(bool))
            else:
                dictionary = pa.array(table)
            return pa.DictionaryArray.from_arrays(self.array(key), dictionary, safe=False)  # keys checked at build
        _, arrow_type = TYPES[t]
        if t in DICTIONARIES:
            codes = pa.Array.from_buffers(pa.int8(), rows, [None, buf])
            return pa.DictionaryArray.from_arrays(codes, DICTIONARIES[t], safe=False)  # codes checked at build
        if t == "ree_int64":
            ends = pa.Array.from_buffers(pa.int64(), count, [None, buf.slice(0, 8 * count)])
            values = pa.Array.from_buffers(pa.int64(), count, [None, buf.slice(8 * count, 8 * count)])
            return pa.RunEndEncodedArray.from_arrays(ends, values)
        return pa.Array.from_buffers(arrow_type, rows, [None, buf])

    def arrow_table(self) -> pa.Table:
        """The whole table, zero-copy, in record batches of CHUNK_ROWS (types as stored)."""
        schema = self.layout.schema
        arrays = [self.array(f.name) for f in schema]
        n = self.layout.rows
        if n <= CHUNK_ROWS:
            return pa.Table.from_arrays(arrays, schema=schema)
        batches = [pa.RecordBatch.from_arrays([a.slice(s, CHUNK_ROWS) for a in arrays], schema=schema)
                   for s in range(0, n, CHUNK_ROWS)]
        return pa.Table.from_batches(batches, schema=schema)
