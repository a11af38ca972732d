"""Column files: the index's bulk tables as plain, uncompressed Arrow buffers, memory-mapped.

A column file (`RUN/index/<table>-<build>.cols`) holds one table: each column's values one after
the other, every column starting at a 64-byte aligned offset, in exactly Arrow's in-memory layout
(little-endian fixed-width values; booleans bit-packed, least significant bit first; `kind` and
`mode` as the int8 codes of tracer.schema.KIND_NAMES and MODE_NAMES; a `ree_int64` column run-end encoded: its run ends, then
its values, `count` of each). Its layout (rows, and each column's name, type, offset and count) is
stored in the catalogue, index.duckdb's `index_info` (key `data`). Integer columns may be stored
narrower than the recording's types when every value fits (the `accesses` view widens them).

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


def type_name(field: pa.Field) -> str:
    if field.name in DICTIONARIES:
        return field.name
    for name, (_, t) in TYPES.items():
        if name not in DICTIONARIES and field.type == t:
            return name
    raise TypeError(f"no column file type for {field}")


def column_bytes(type_: str, count: int) -> int:
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
        for n, t, off, count in self.columns:
            if n == name:
                return t, off, count
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _, _ in self.columns)

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the stored columns (narrow types as stored)."""
        return pa.schema([pa.field(n, TYPES[t][1], nullable=False) for n, t, _, _ in self.columns])

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
        else:
            start = off + row * TYPES[t][0].itemsize
        view = memoryview(np.ascontiguousarray(values)).cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], start + done)

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

    def raw(self, column: str) -> np.ndarray:
        """The stored values (bool: the packed bytes; ree_int64: run ends then values)."""
        got = self._raw.get(column)
        if got is None:
            t, off, count = self.layout.column(column)
            n = column_bytes(t, count)
            dtype = TYPES[t][0]
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
        encoded columns (decoded) and derived ones (`old` from `old_rel`, `issued` from `issued_rel`:
        computed)."""
        stop = self.layout.rows if stop is None else stop
        if column in DERIVED and not self.layout.has(column) and self.layout.has(DERIVED[column]):
            rel = self.numpy(DERIVED[column], start, stop).astype(np.int64)
            if column == "issued":
                return np.where(rel == 0, -1, self.numpy("cycle", start, stop).astype(np.int64) - rel)
            new = self.numpy("new", start, stop).astype(np.int64)
            return np.where(self.numpy("kind", start, stop) == READ_CODE, rel, new - rel).astype(np.uint64)
        t, _, _ = self.layout.column(column)
        if t == "ree_int64":
            ends, values = self.runs(column)
            if stop <= start:
                return np.empty(0, dtype=np.int64)
            a = int(np.searchsorted(ends, start, side="right"))  # the run holding row start
            b = int(np.searchsorted(ends, stop, side="left")) + 1  # ... and the one after stop - 1
            run_ends = np.minimum(ends[a:b], stop)
            run_starts = np.concatenate([[start], run_ends[:-1]])
            return np.repeat(values[a:b], run_ends - run_starts)
        raw = self.raw(column)
        if t != "bool":
            return raw[start:stop]
        lo = start // 8
        bits = np.unpackbits(raw[lo:(stop + 7) // 8], bitorder="little")
        return bits[start - lo * 8: stop - lo * 8].view(bool)

    def array(self, column: str) -> pa.Array:
        t, off, count = self.layout.column(column)
        n = column_bytes(t, count)
        buf = self.buffer.slice(off, n) if n else pa.py_buffer(b"")
        _, arrow_type = TYPES[t]
        rows = self.layout.rows
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
