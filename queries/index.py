"""Build (once) and find (every time) a run's query index: RUN/index.duckdb and RUN/index/.

`index.duckdb` is the catalogue users query: the small tables are stored in it (symbols, bits,
sites, threads, machines, words, schedule, word_offsets, checkpoints, meta, index_info), and so are
the views (accesses, events, ev, accesses_named, writes, ...). The three bulk tables are column
files in RUN/index/ (queries/columns.py: plain Arrow buffers, memory-mapped) that every connection
opened here registers with DuckDB, zero-copy (`register`):

- `_accesses` (index/accesses-<build>.cols): every read, write and rmw, in (addr, seq) order. Its
  addr column is run-end encoded (one run per word), and so is machine when every word is one
  machine's; its integer columns are stored in the narrowest type that holds the run's values,
  new as the narrowest unsigned type and old as `old_rel` when that is narrower (a read's old, a
  write's new - old: columns.DERIVED); the view `accesses` gives them the recording's types.
  other_events and vclocks are narrowed the same way, behind views of the same names. The
  catalogue uses DuckDB's smallest block size (16 KiB). On race_counter this takes the index from
  30 to 19 bytes per event. `word_offsets` says where each word's rows start: the last-writer
  family (writeindex.py) and the race engine (races.py) read the same memory-mapped columns with
  numpy.
- `other_events` (index/other-<build>.cols): every other event, in seq order.
- `vclocks` (index/vclocks-<build>.cols): in (thread, of_thread, clock) order.
- `events`: the view `accesses` UNION ALL `other_events` (every event is stored once).

Why column files and not DuckDB's storage or Parquet: on the 2-core reference machine DuckDB's
table writer costs ~5.4 s of CPU per 10M event rows and Parquet's encoders ~1.7 s (plus ~0.6 s
for the separate writes sidecar the last-writer look-ups needed), while the build has to ingest
at least 3M events/s. Plain buffers cost one `pwrite`, the numpy paths read them without a decode,
and DuckDB scans registered Arrow memory about as fast as its own Parquet files (it cannot skip
row groups in them, though: a SQL look-up of one word scans the addr column).

The build: one pass over the memory-mapped streams gives every access a dense word id (2 bytes
per event, kept) and counts each batch's accesses per word, so that every batch knows where its
rows of each word go in (addr, seq) order. Meanwhile another thread writes the vector clocks, the
catalogue and the schedule. Then, for groups of words of up to GROUP_ROWS accesses (one group
below that), every batch's rows of the group are sorted by word (a radix sort) to give their
final rows, and two threads scatter the columns, straight from the memory-mapped input, into one
reused buffer per thread that is written to the column file with `pwrite`. The event parts are
zstd-compressed (tracer.trace_stream), so the batches are held decoded (read one part ahead, on
a thread, while the previous one is counted): memory is about 70 bytes per event plus the group
(about 24 bytes per access of it).

The new index is written to a temporary folder and renamed into place (data files first, the
catalogue last), so a reader never sees half an index (and one that has it open keeps reading the
files it mapped); builders take a lock (flock on the run directory) so that two processes never
build the same index at once. It is rebuilt when missing, unreadable, of another index format or
schema version, or when its fingerprint (meta.json and the size and mtime of every part file and
side table) no longer matches the run directory. The data files are not fsynced: the index is a
cache of the recording (`open_run(rebuild=True)` rebuilds it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracer import schema as S

from . import columns as C
from . import index_check, intact
from .errors import QueryError, QueryWarning
from .rundir import RunDir, kind_codes, mode_codes, read_stream
from .sqlfiles import load_sql

INDEX_FILE = "index.duckdb"
DATA_DIR = "index"
INDEX_FORMAT = 11  # bump whenever the index layout changes
INT32_MAX = np.iinfo(np.int32).max
GROUP_ROWS = 32 * 1024 * 1024  # accesses per sorted group (the scatter buffers' size)
PROGRESS_MIN_EVENTS = 2_000_000  # show a progress bar from this size when stderr is a terminal
PROGRESS_ALWAYS_EVENTS = 20_000_000  # ... and from this size even when it is not
KIND = {name: i for i, name in enumerate(S.KIND_NAMES)}
assert (KIND["read"], KIND["write"], KIND["rmw"]) == (0, 1, 2)  # `code <= 2` means an access

ACCESS_SCHEMA = pa.schema([S.EVENTS.field(n) for n in
                           ("addr", "seq", "cycle", "machine", "core", "thread", "site", "kind",
                            "old", "new", "clock", "atomic", "mode", "issued")])
ACCESS_COLUMNS = ACCESS_SCHEMA.names
TABLES = {"accesses": ACCESS_SCHEMA, "other_events": S.EVENTS, "vclocks": S.VCLOCKS}
# the names the bulk tables are registered under (each is a view over its registered table that
# widens the columns stored narrower: see views.sql)
REGISTERED = {"accesses": "_accesses", "other_events": "_other_events", "vclocks": "_vclocks"}
FILE_PREFIX = {"accesses": "accesses", "other_events": "other", "vclocks": "vclocks"}
# integer columns of `accesses` stored in the narrowest type that holds all their values
NARROW = ("seq", "cycle", "machine", "core", "thread", "site", "clock", "issued")
# the columns each scatter thread moves (about the same work each); `addr` is run-end encoded
SCATTER_SHARES = (("seq", "cycle", "old", "new", "kind"),
                  ("clock", "machine", "core", "thread", "site", "atomic", "mode", "issued"))


@dataclass
class IndexState:
    path: Path  # index.duckdb
    events: int
    layouts: dict[str, C.Layout]  # accesses, other_events, vclocks
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # why a damaged index was rebuilt
    built: bool = False  # True when this call (re)built it
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    max_seq: int = -1
    con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)  # catalogue, read-only

    def take_connection(self) -> duckdb.DuckDBPyConnection:
        """The open read-only catalogue connection (opened now when there is none)."""
        con, self.con = self.con, None
        return con if con is not None else connect(self.path)

    @property
    def data(self) -> dict[str, Path]:
        """The data files, by table name (relative to the run directory)."""
        return {k: Path(v.file) for k, v in self.layouts.items()}


CATALOG = "run_index"  # what a connection calls the attached index.duckdb
CATALOG_BLOCK_SIZE = 16384  # DuckDB's smallest


def connect(index_path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to index.duckdb. Read-only ones are a fresh in-memory database that ATTACHes
    it: duckdb.connect(path) would hand back a database this process already has open, which is
    the previous index when it has been rebuilt (renamed over) since."""
    if read_only:
        con = duckdb.connect()
        path = str(index_path).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
    else:
        # small blocks: DuckDB's default of 256 KiB per table would make the catalogue of a small
        # run (a dozen small tables) 3 MB, more than the run's events
        con = duckdb.connect()
        path = str(index_path).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {CATALOG} (BLOCK_SIZE {CATALOG_BLOCK_SIZE})")
        con.execute(f"USE {CATALOG}")
    con.execute("SET enable_progress_bar = false")
    return con


def open_data(run_path: Path, state: IndexState) -> dict[str, C.Mapped]:
    """The bulk tables, memory-mapped (raises OSError when a file went missing)."""
    return {name: C.Mapped(run_path, layout) for name, layout in state.layouts.items()}


def same_build(con: duckdb.DuckDBPyConnection, state: IndexState) -> bool:
    """Does the catalogue open on `con` name exactly the data files of `state`?"""
    try:
        rows = con.execute("SELECT value FROM index_info WHERE key = 'data'").fetchall()
    except duckdb.Error:
        return False
    return len(rows) == 1 and json.loads(rows[0][0]) == {k: v.to_json() for k, v in state.layouts.items()}


def register(con: duckdb.DuckDBPyConnection, data: dict[str, C.Mapped]) -> None:
    """Make the bulk tables queryable on `con` under their names (zero-copy Arrow tables)."""
    for name, as_name in REGISTERED.items():
        con.register(as_name, data[name].arrow_table())


# ------------------------------------------------------------------------------------------------
# finding a current index


def ensure_index(rd: RunDir, progress: bool | None = None, rebuild: bool = False) -> IndexState:
    """The run's index, (re)built first when it is missing, stale or damaged (a damaged one is
    rebuilt with a notice: the index is a cache, the recording is the evidence)."""
    notices: list[str] = []
    if not rebuild:
        state = current_index(rd, notices)
        if state is not None:
            return state
    with _build_lock(rd) as locked:
        if not rebuild:  # another process may have built it while we waited
            notices.clear()
            state = current_index(rd, notices)
            if state is not None:
                return state
        state = build_index(rd, progress, sole_builder=locked)
    state.notices = [f"{n}; rebuilt the index" for n in notices[:1]]
    return state


@contextlib.contextmanager
def _build_lock(rd: RunDir):
    """One builder at a time per run directory: an exclusive flock on the directory itself."""
    try:
        fd = os.open(rd.path, os.O_RDONLY)
    except OSError:
        fd = None
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no locking here (an odd file system): builds never expose half an index
            os.close(fd)
            fd = None
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def current_index(rd: RunDir, notices: list[str] | None = None) -> IndexState | None:
    """The run's index when it is current (with its catalogue open, read-only, in `con`); when it
    is damaged (rather than stale or missing), why is appended to `notices`."""
    notices = [] if notices is None else notices
    path = rd.path / INDEX_FILE
    if not path.exists():
        return None
    con = None
    try:
        if path.stat().st_mtime < rd.newest_input_mtime():
            return None
        con = connect(path)
        info = dict(con.execute("SELECT key, value FROM index_info").fetchall())
        state = _state_of(rd, path, info, notices)
    except (duckdb.Error, OSError) as err:
        # unreadable (truncated, not a database, another DuckDB storage version): rebuild
        notices.append(f"index.duckdb is unreadable ({_first_line(err)})")
        state = None
    if state is None:
        if con is not None:
            con.close()
        return None
    state.con = con
    return state


def _state_of(rd: RunDir, path: Path, info: dict[str, str], notices: list[str]) -> IndexState | None:
    if (info.get("index_format") != str(INDEX_FORMAT)
            or info.get("schema_version") != str(S.SCHEMA_VERSION)
            or info.get("fingerprint") != rd.fingerprint()):
        return None
    try:
        layouts = {k: C.Layout.from_json(v) for k, v in json.loads(info.get("data", "{}")).items()}
    except (ValueError, KeyError, TypeError):
        return None
    if set(layouts) != set(TABLES):
        return None
    for layout in layouts.values():
        f = rd.path / layout.file
        if not f.is_file() or f.stat().st_size < layout.size:
            notices.append(f"{layout.file} is missing or truncated")
            return None
    names = [Path(layout.file).name for layout in layouts.values()]
    try:
        recorded = json.loads((rd.path / DATA_DIR / _checksums_name(layouts)).read_bytes())
    except (OSError, ValueError) as err:
        notices.append(f"the index's checksums are unreadable ({_first_line(err)})")
        return None
    problem = index_check.problem(rd.path / DATA_DIR, recorded if isinstance(recorded, dict) else {},
                                  names)
    if problem:
        notices.append(problem)
        return None
    return IndexState(path, int(info.get("events", 0)), layouts,
                      warnings=json.loads(info.get("warnings", "[]")),
                      max_seq=int(info.get("max_seq", -1)))


# ------------------------------------------------------------------------------------------------
# progress


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, show: bool):
        self.bar = None
        self.task = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self.bar = Progress(TextColumn("indexing {task.description:<22}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=False)
            self.bar.start()

    def stage(self, description: str, total: int) -> None:
        if self.bar is not None:
            self._finish()
            self.task = self.bar.add_task(description, total=max(total, 1))

    def advance(self, n: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, n)

    def _finish(self) -> None:
        if self.task is not None:
            task = next(t for t in self.bar.tasks if t.id == self.task)
            self.bar.update(self.task, completed=task.total)

    def close(self) -> None:
        if self.bar is not None:
            self._finish()
            self.bar.stop()
            self.bar = None


def _want_progress(progress: bool | None, events_guess: int) -> bool:
    if progress is not None:
        return progress
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return events_guess >= PROGRESS_ALWAYS_EVENTS or (tty and events_guess >= PROGRESS_MIN_EVENTS)


# ------------------------------------------------------------------------------------------------
# helpers


class _Dense:
    """Dense ids for word addresses, in order of first appearance (remapped to address order later)."""

    LUT_LIMIT = 1 << 26

    def __init__(self):
        self.lut = np.full(4096, -1, dtype=np.int32)
        self.addrs: list[np.ndarray] = []
        self.count = 0
        self.big: dict[int, int] | None = None  # for address spaces too large for a lookup table

    def ids(self, addr: np.ndarray) -> np.ndarray:
        if len(addr) == 0:
            return np.empty(0, dtype=np.int32)
        top = int(addr.max())
        if self.big is None and top >= self.LUT_LIMIT:
            known = self.all_addrs()
            self.big = {int(a): i for i, a in enumerate(known.tolist())}
        if self.big is not None:
            uniq, inv = np.unique(addr, return_inverse=True)
            ids = np.empty(len(uniq), dtype=np.int32)
            for j, a in enumerate(uniq.tolist()):
                i = self.big.get(a)
                if i is None:
                    i = self.big[a] = self.count
                    self.count += 1
                    self.addrs.append(np.array([a], dtype=np.int64))
                ids[j] = i
            return ids[inv]
        if top >= len(self.lut):
            grown = np.full(max(top + 1, 2 * len(self.lut)), -1, dtype=np.int32)
            grown[: len(self.lut)] = self.lut
            self.lut = grown
        ids = self.lut[addr]
        new = ids < 0
        if new.any():
            seen = np.zeros(top + 1, dtype=bool)
            seen[addr[new]] = True
            fresh = np.flatnonzero(seen)
            self.lut[fresh] = np.arange(self.count, self.count + len(fresh), dtype=np.int32)
            self.count += len(fresh)
            self.addrs.append(fresh.astype(np.int64))
            ids = self.lut[addr]
        return ids

    def all_addrs(self) -> np.ndarray:
        return np.concatenate(self.addrs) if self.addrs else np.empty(0, dtype=np.int64)


class _Schedule:
    """Runs of consecutive events by one thread on one core, accumulated batch by batch."""

    FEW_CORES = 8

    def __init__(self):
        self.open: dict[int, list[int]] = {}  # core key -> [thread, start_seq, end_seq, start_cycle, end_cycle, n]
        self.done: list[np.ndarray] = []

    def add(self, machine, core, thread, seq, cycle) -> None:
        if len(seq) == 0:
            return
        key = machine.astype(np.int32) * 4096 + core
        lo, hi = int(key.min()), int(key.max())
        keys = (np.flatnonzero(np.bincount(key - lo)) + lo) if hi - lo < 1 << 16 else np.unique(key)
        if len(keys) <= self.FEW_CORES:
            # each core's events, in seq order, one core after the other: a pass per core
            # (cheaper than sorting 10M keys when there are a handful of cores)
            os_parts, oe_parts, n_parts = [], [], []
            for k in keys.tolist():
                idx = np.flatnonzero(key == k)
                t = thread[idx]
                brk = np.flatnonzero(t[1:] != t[:-1]) + 1
                starts = np.concatenate([[0], brk])
                ends = np.concatenate([brk, [len(idx)]]) - 1
                os_parts.append(idx[starts])
                oe_parts.append(idx[ends])
                n_parts.append(ends - starts + 1)
            os_, oe, n_of = np.concatenate(os_parts), np.concatenate(oe_parts), np.concatenate(n_parts)
        else:
            small = lo >= 0 and hi < 32768
            order = np.argsort(key.astype(np.int16) if small else key, kind="stable")  # radix
            ct = (key.astype(np.int64) << 32) | (thread.astype(np.int64) & 0xFFFFFFFF)
            cts = ct[order]  # each core's (core, thread) in seq order, cores one after the other
            brk = np.flatnonzero(cts[1:] != cts[:-1]) + 1
            starts = np.concatenate([[0], brk])
            ends = np.concatenate([brk, [len(cts)]]) - 1
            os_, oe, n_of = order[starts], order[ends], ends - starts + 1
        runs = np.stack([key[os_], thread[os_], seq[os_], seq[oe], cycle[os_], cycle[oe], n_of],
                        axis=1).astype(np.int64)
        keep = np.ones(len(runs), dtype=bool)
        first = np.concatenate([[True], runs[1:, 0] != runs[:-1, 0]])
        last = np.concatenate([runs[1:, 0] != runs[:-1, 0], [True]])
        closed = []
        for i in np.flatnonzero(first):
            key_i = int(runs[i, 0])
            prev = self.open.pop(key_i, None)
            if prev is not None and prev[0] == runs[i, 1]:  # the open run goes on
                prev[2], prev[4] = int(runs[i, 3]), int(runs[i, 5])
                prev[5] += int(runs[i, 6])
                keep[i] = False
                if last[i]:
                    self.open[key_i] = prev
                    continue
                closed.append([key_i] + prev)
            elif prev is not None:
                closed.append([key_i] + prev)
        for i in np.flatnonzero(last & keep):
            self.open[int(runs[i, 0])] = [int(x) for x in runs[i, 1:]]
            keep[i] = False
        if closed:
            self.done.append(np.array(closed, dtype=np.int64))
        if keep.any():
            self.done.append(runs[keep])

    def table(self, machines: list[str], threads: dict[int, str]) -> pa.Table:
        rows = list(self.done)
        if self.open:
            rows.append(np.array([[k] + v for k, v in self.open.items()], dtype=np.int64))
        r = np.concatenate(rows) if rows else np.empty((0, 7), dtype=np.int64)
        if len(r):
            r = r[np.lexsort((r[:, 0], r[:, 2]))]
        mach = (r[:, 0] // 4096).astype(np.int16)
        return pa.table({
            "machine": pa.array([machines[m] if 0 <= m < len(machines) else str(m) for m in mach.tolist()],
                                pa.string()),
            "machine_id": pa.array(mach),
            "core": pa.array((r[:, 0] % 4096).astype(np.int16)),
            "thread": pa.array([threads.get(t, str(t)) for t in r[:, 1].tolist()], pa.string()),
            "thread_id": pa.array(r[:, 1].astype(np.int32)),
            "start_seq": pa.array(r[:, 2]), "end_seq": pa.array(r[:, 3]),
            "start_cycle": pa.array(r[:, 4]), "end_cycle": pa.array(r[:, 5]),
            "events": pa.array(r[:, 6]),
        })


def _canonical_batch(batch: pa.RecordBatch, location: str) -> pa.RecordBatch:
    """A batch with exactly the EVENTS schema, kind and mode as int8 codes under their
    dictionaries."""
    if (batch.schema.equals(S.EVENTS) and batch.column(6).dictionary.equals(S.KIND_DICTIONARY)
            and batch.column(13).dictionary.equals(S.MODE_DICTIONARY)):
        return batch
    missing = [f.name for f in S.EVENTS if f.name not in batch.schema.names]
    if missing:
        raise QueryError(f"events lack column(s) {', '.join(missing)} (older schema?)", location)
    arrays = []
    for f in S.EVENTS:
        col = batch.column(f.name)
        if f.name == "kind":
            arrays.append(pa.DictionaryArray.from_arrays(kind_codes(col, location), S.KIND_DICTIONARY))
        elif f.name == "mode":
            arrays.append(pa.DictionaryArray.from_arrays(mode_codes(col, location), S.MODE_DICTIONARY))
        else:
            try:
                arrays.append(col.cast(f.type))
            except (pa.ArrowException, ValueError) as err:
                raise QueryError(f"events column {f.name} has type {col.type}, expected {f.type} "
                                 f"({err})", location) from None
    return pa.RecordBatch.from_arrays(arrays, schema=S.EVENTS)


def _meta_int(meta: dict, key: str) -> int:
    """meta[key] when it is a count (anything else counts as 0: meta_notes reports it)."""
    value = meta.get(key)
    return value if type(value) is int and value >= 0 else 0


DERIVED_FROM = {"old": "old_rel"}  # a column of the recording -> what the index may store instead


class _ValueRanges:
    """The accesses' largest old and new, and the range of old_rel (columns.DERIVED), to store
    each in the narrowest type: a counter's or a flags word's values need far fewer than 64 bits,
    and a write's new - old is usually a small number (1, or one bit)."""

    def __init__(self):
        self.old = self.new = 0
        self.rel = [0, 0]
        self.below_2_63 = True

    def add(self, batch: pa.RecordBatch, kind: np.ndarray, rows: np.ndarray | None) -> None:
        old, new = _np(batch.column("old")), _np(batch.column("new"))
        if rows is not None:
            kind, old, new = kind[rows], old[rows], new[rows]
        if len(old) == 0:
            return
        self.old, self.new = max(self.old, int(old.max())), max(self.new, int(new.max()))
        self.below_2_63 = self.below_2_63 and max(self.old, self.new) < 1 << 63
        if self.below_2_63:
            rel = C.old_rel(kind, old, new)
            self.rel = [min(self.rel[0], int(rel.min())), max(self.rel[1], int(rel.max()))]

    def choose(self, stored: dict[str, str]) -> dict[str, str]:
        """`stored` with new and old (or old_rel) in their narrowest types."""
        out = dict(stored, new=C.narrowest_uint(self.new))
        old = C.narrowest_uint(self.old)
        rel = C.narrowest_int(*self.rel)
        if self.below_2_63 and C.TYPES[rel][0].itemsize < C.TYPES[old][0].itemsize:
            return {("old_rel" if k == "old" else k): (rel if k == "old" else v) for k, v in out.items()}
        out["old"] = old
        return out


KEPT = tuple(name for name in ACCESS_COLUMNS if name != "addr")  # addr is the word id's business


def _kept(batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """What pass 2 needs of a batch, each integer column in the narrowest type that holds this
    batch's values: the parts are zstd-compressed, so a batch held as read would be all of its
    ~70 bytes per event decoded, while these are about 20 (numpy widens them again when they are
    scattered into the stored types)."""
    out = {}
    for name in KEPT:
        if name not in batch.schema.names:
            continue
        v = _np(batch.column(name))
        if v.dtype.kind in "iu" and len(v) and v.dtype.itemsize > 1:
            lo, hi = int(v.min()), int(v.max())
            t = C.narrowest_uint(hi) if lo >= 0 and v.dtype.kind == "u" else C.narrowest_int(lo, hi)
            if C.TYPES[t][0].itemsize < v.dtype.itemsize:
                v = v.astype(C.TYPES[t][0])
        out[name] = v
    return out


def _column(batch: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A stored column's values in one kept batch (old_rel computed from kind, old and new)."""
    if name == "old_rel":
        return C.old_rel(batch["kind"], batch["old"], batch["new"])
    return batch[name]


def views_sql(accesses: C.Layout) -> str:
    """views.sql, its accesses view reading `old` as stored (itself or from old_rel)."""
    old = ("CASE WHEN kind = 'read' THEN old_rel::UBIGINT ELSE (new::BIGINT - old_rel)::UBIGINT END"
           if accesses.has("old_rel") else "old::UBIGINT")
    return load_sql("views").replace("{old}", old)


def _np(array) -> np.ndarray:
    """An Arrow array (or a chunked one) as numpy; dictionary arrays give their indices."""
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else (
            pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], array.type))
    if pa.types.is_dictionary(array.type):
        array = array.indices
    return array.to_numpy(zero_copy_only=False)


# ------------------------------------------------------------------------------------------------
# building


def _checksums_name(layouts: dict[str, C.Layout]) -> str:
    """index/checksums-<build>.json, named after the build's accesses file."""
    build = Path(layouts["accesses"].file).stem.removeprefix(FILE_PREFIX["accesses"] + "-")
    return f"checksums-{build}.json"


def _first_line(err: BaseException) -> str:
    lines = [s.strip() for s in str(err).strip().splitlines() if s.strip()]
    return lines[0][:200] if lines else type(err).__name__


def build_index(rd: RunDir, progress: bool | None = None, sole_builder: bool = False) -> IndexState:
    """Build the index now (callers hold the build lock: see ensure_index). `sole_builder`: the
    lock is really held, so any other `.index-build-*` folder is a dead builder's and goes."""
    if sole_builder:
        for old in rd.path.glob(".index-build-*"):
            shutil.rmtree(old, ignore_errors=True)
    t_start = time.perf_counter()
    notes: list[str] = []
    fingerprint = rd.fingerprint()  # before reading: a part that grows meanwhile makes it stale
    parts = rd.event_parts()
    guess = _meta_int(rd.meta, "events") or sum(p.stat().st_size for p in parts) // 64
    bar = _Progress(_want_progress(progress, guess))
    build_id = f"{time.time_ns():x}{os.getpid():x}"
    tmp = rd.path / f".index-build-{build_id}"
    try:
        (tmp / DATA_DIR).mkdir(parents=True)
    except OSError as err:
        raise QueryError(f"cannot write the index here ({err.strerror})", rd.location) from None
    try:
        try:
            state = _build(rd, tmp, build_id, parts, bar, notes, fingerprint)
            names = [Path(layout.file).name for layout in state.layouts.values()]
            sums = index_check.record(tmp / DATA_DIR, names)
            (tmp / DATA_DIR / _checksums_name(state.layouts)).write_text(json.dumps(sums))
        except OSError as err:  # a full disk, a folder that went away
            raise QueryError(f"cannot build the index: {err.strerror or err}", rd.location) from None
        except duckdb.Error as err:
            raise QueryError(f"cannot build the index: {_first_line(err)}", rd.location) from None
        bar.close()
        # into place: the data files first, the catalogue (which names them) last
        (rd.path / DATA_DIR).mkdir(exist_ok=True)
        for f in (tmp / DATA_DIR).iterdir():
            os.replace(f, rd.path / DATA_DIR / f.name)
        os.replace(tmp / INDEX_FILE, rd.path / INDEX_FILE)
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # the previous index's files (a reader that has them mapped keeps reading them)
    for old in (rd.path / DATA_DIR).iterdir():
        if build_id not in old.name:
            try:
                old.unlink()
            except OSError:
                pass
    state.path = rd.path / INDEX_FILE
    state.built = True
    state.seconds = time.perf_counter() - t_start
    for note in notes:
        warnings.warn(QueryWarning(f"{rd.location}: {note}"), stacklevel=3)
    return state


def _build(rd: RunDir, tmp: Path, build_id: str, parts: list[Path], bar: _Progress,
           notes: list[str], fingerprint: str) -> IndexState:
    files = {name: f"{DATA_DIR}/{FILE_PREFIX[name]}-{build_id}.cols" for name in TABLES}
    stats: dict[str, float] = {}
    c0 = time.process_time()
    # the vector clocks, the catalogue and the schedule are built by another thread meanwhile
    inbox: queue.Queue = queue.Queue()
    vclocks = intact.read_vclocks(rd)  # first: the events' intact prefix depends on them
    side_pool = ThreadPoolExecutor(max_workers=1)
    side = side_pool.submit(_side_work, rd, tmp, files, inbox, stats, vclocks)
    pool = ThreadPoolExecutor(max_workers=len(SCATTER_SHARES))
    try:
        return _build_events(rd, tmp, files, parts, bar, notes, fingerprint, stats, c0, inbox, side,
                             pool, intact.Prefix(parts, vclocks))
    finally:
        inbox.put(("abort", None))  # (ignored when the side work is done)
        pool.shutdown()
        side_pool.shutdown(wait=True)  # never leave it writing into a folder about to be removed


def _build_events(rd: RunDir, tmp: Path, files: dict[str, str], parts: list[Path], bar: _Progress,
                  notes: list[str], fingerprint: str, stats: dict, c0: float, inbox: queue.Queue,
                  side, pool: ThreadPoolExecutor, prefix: intact.Prefix) -> IndexState:
    # -- pass 1: read every part; the other events, a word id for every access -------------------
    t0 = time.perf_counter()
    bar.stage("reading events", _meta_int(rd.meta, "events") or len(parts))
    dense = _Dense()
    batches: list[dict] = []  # each batch's columns for pass 2, narrowed (see _kept)
    b_ids: list[np.ndarray] = []  # per batch: every event's word id (discovery order), -1 if no access
    b_all: list[bool] = []  # per batch: are all its events accesses?
    b_runs: list[tuple] = []  # per batch: the word ids it accesses (ascending), and how often
    others: list[pa.RecordBatch] = []
    counts = np.zeros(4096, dtype=np.int64)  # accesses per word id
    id_type = np.int16
    n_writes = 0
    max_seq = -1
    ranges = {name: [0, 0] for name in NARROW}  # each column's smallest and largest value
    values = _ValueRanges()  # the accesses' old, new and old_rel
    word_machine = np.full(4096, -1, dtype=np.int16)  # by word id; every word is one machine's?
    one_machine = True
    total = 0
    # the parts are read (decompressed) one ahead, on a thread of their own: Arrow's zstd decoder
    # releases the GIL, so the next part's decoding overlaps this part's word ids
    if not parts:
        prefix.no_parts()
    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead = [reader.submit(read_stream, p) for p in parts[:1]]
        for i, path in enumerate(parts):
            if not prefix.part_ok(i):  # a missing part, or an earlier one was damaged
                break
            read = ahead[i].result()
            ahead[i] = None
            if i + 1 < len(parts):
                ahead.append(reader.submit(read_stream, parts[i + 1]))
            rel = f"{path.parent.name}/{path.name}"
            part_batches = []
            for raw, meta in zip(read.batches, read.metadata):
                if raw.num_rows == 0:
                    continue
                batch = _canonical_batch(raw, f"{rd.location}/{rel}")
                seq = _np(batch.column("seq"))
                if not prefix.batch_ok(i, seq, meta):  # a gap in seq or lost clocks: stop here
                    break
                kind = _np(batch.column("kind"))
                addr = _np(batch.column("addr"))
                n = len(seq)
                max_seq = max(max_seq, int(seq.max()))
                for name, r in ranges.items():
                    a = seq if name == "seq" else _np(batch.column(name))
                    r[0], r[1] = min(r[0], int(a.min())), max(r[1], int(a.max()))
                is_acc = (kind <= 2) & (addr >= 0)
                n_acc = int(np.count_nonzero(is_acc))
                if n_acc == n:
                    ids = dense.ids(addr)
                    n_writes += int(np.count_nonzero(kind))
                    valid = ids
                else:
                    ids = np.full(n, -1, dtype=np.int32)
                    rows = np.flatnonzero(is_acc)
                    valid = dense.ids(addr[rows])
                    ids[rows] = valid
                    n_writes += int(np.count_nonzero(is_acc & (kind != 0)))
                    others.append(batch.filter(pa.array(~is_acc)))
                if dense.count > len(counts):
                    counts = np.concatenate([counts, np.zeros(max(dense.count, 2 * len(counts)) - len(counts),
                                                              dtype=np.int64)])
                if dense.count > len(word_machine):
                    word_machine = np.concatenate([word_machine, np.full(
                        max(dense.count, 2 * len(word_machine)) - len(word_machine), -1, dtype=np.int16)])
                acc_rows = None if n_acc == n else rows
                values.add(batch, kind, acc_rows)
                if one_machine and len(valid):
                    machine = _np(batch.column("machine"))
                    machine = machine if acc_rows is None else machine[acc_rows]
                    seen = word_machine[valid]
                    one_machine = not np.any((seen >= 0) & (seen != machine))
                    word_machine[valid] = machine
                    one_machine = one_machine and bool(np.all(word_machine[valid] == machine))
                c = np.bincount(valid) if len(valid) else np.zeros(0, dtype=np.int64)
                counts[:len(c)] += c
                present = np.flatnonzero(c)
                b_runs.append((present.astype(np.int32), c[present].astype(np.int32)))
                if id_type is np.int16 and dense.count >= 32767:  # too many words for two bytes
                    id_type = np.int32
                    b_ids = [b.astype(np.int32) for b in b_ids]
                b_ids.append(ids.astype(id_type))
                b_all.append(n_acc == n)
                kept = _kept(batch)
                batches.append(kept)
                part_batches.append(kept)  # the schedule's columns, narrowed: the decoded part goes
                total += n
                bar.advance(n)
            if part_batches:
                inbox.put(("part", part_batches))
            if read.problem and prefix.ended is None:
                prefix.part_problem(i, read)
        for f in ahead:  # a part read ahead but not used: let it finish, then drop it
            if f is not None:
                f.cancel()
    notes.extend(prefix.notes)
    notes.extend(intact.meta_notes(rd.meta, total, prefix.ended is not None))
    stats["pass1"] = time.perf_counter() - t0
    stats["pass1_cpu"], c0 = time.process_time() - c0, time.process_time()

    # -- every word's place in (addr, seq) order; every batch's first row of each of its words ----
    t0 = time.perf_counter()
    n_words = dense.count
    counts = counts[:n_words]
    disc_addrs = dense.all_addrs()
    order = np.argsort(disc_addrs, kind="stable")  # final (address order) id -> discovery id
    words = disc_addrs[order]
    wcounts = counts[order]
    cum = np.concatenate([[0], np.cumsum(wcounts)]).astype(np.int64)
    n_access = int(cum[-1])
    cursor = np.empty(n_words, dtype=np.int64)  # by discovery id: the word's next free row
    cursor[order] = cum[:-1]
    for i, (present, n_of) in enumerate(b_runs):
        b_runs[i] = (present, n_of, cursor[present])
        cursor[present] += n_of
    groups = []
    lo = 0
    while lo < n_words:
        hi = max(int(np.searchsorted(cum, cum[lo] + GROUP_ROWS, side="right")) - 1, lo + 1)
        groups.append((lo, hi))
        lo = hi
    stored = {f.name: C.type_name(f) for f in ACCESS_SCHEMA}
    stored.update(addr="ree_int64", **{name: C.narrowest_int(*r) for name, r in ranges.items()})
    stored = values.choose(stored)
    if one_machine and n_words:  # each word's rows are one run of its machine, as of addr
        stored["machine"] = "ree_int64"
    layouts = {"accesses": C.Layout.plan(files["accesses"], n_access, [
        (name, t, n_words if t == "ree_int64" else n_access) for name, t in stored.items()])}
    dtypes = {name: np.dtype(bool) if t == "bool" else C.TYPES[t][0] for name, t in stored.items()}
    inbox.put(("events", {"others": others, "words": words, "cum": cum, "wcounts": wcounts,
                          "layouts": layouts, "notes": list(notes), "info": {
                              "fingerprint": fingerprint, "events": total, "max_seq": max_seq,
                              "accesses": n_access, "writes": n_writes, "words": n_words}}))
    others = []

    # -- pass 2: each group of words scattered, column by column, to its final rows ---------------
    bar.stage("sorting accesses", n_access)
    writer = C.Writer(tmp / files["accesses"], layouts["accesses"])
    try:
        # the addresses: each word's rows are one run (and so, when every word is one machine's,
        # are the machines)
        writer.write("addr", np.concatenate([cum[1:], words]))
        if stored["machine"] == "ree_int64":
            writer.write("machine", np.concatenate([cum[1:], word_machine[order].astype(np.int64)]))
        shares = [tuple(c for c in (DERIVED_FROM[c] if c not in stored and c in DERIVED_FROM else c
                                    for c in share) if stored.get(c, "ree_int64") != "ree_int64")
                  for share in SCATTER_SHARES]
        buf_rows = max((int(cum[hi] - cum[lo]) for lo, hi in groups), default=0)
        bufs = [np.empty(buf_rows * 8, dtype=np.uint8) for _ in SCATTER_SHARES]
        atomic = np.empty(n_access, dtype=bool)

        def plan_of(g: int) -> list[tuple]:
            """Every batch's part in group g: (batch, rows, their rows in the group's buffer)."""
            lo, hi = groups[g]
            in_group = None
            if len(groups) > 1:  # by discovery id; the extra last entry is id -1
                in_group = np.zeros(n_words + 1, dtype=bool)
                in_group[order[lo:hi]] = True
            where = partial(_batch_positions, batches, b_ids, b_all, b_runs, in_group, int(cum[lo]),
                            int(cum[hi] - cum[lo]))
            return [p for p in pool.map(where, range(len(batches))) if p is not None]

        for g, (lo, hi) in enumerate(groups):
            base = int(cum[lo])
            size = int(cum[hi]) - base
            plan = plan_of(g)
            jobs = [pool.submit(_scatter_share, share, buf, plan, writer, base, size, atomic, dtypes)
                    for share, buf in zip(shares, bufs)]
            for job in jobs:
                job.result()
            plan.clear()
            bar.advance(size)
        writer.write("atomic", np.packbits(atomic, bitorder="little"))
        del atomic, bufs
    finally:
        writer.close()
    b_ids = batches = b_runs = None  # type: ignore[assignment]
    stats["pass2"] = time.perf_counter() - t0
    stats["pass2_cpu"], c0 = time.process_time() - c0, time.process_time()
    t0 = time.perf_counter()
    more, final_notes = side.result()
    layouts.update(more)
    notes[:] = final_notes
    stats["side_wait"] = time.perf_counter() - t0
    return IndexState(tmp / INDEX_FILE, total, layouts, warnings=list(notes), stats=stats,
                      max_seq=max_seq)


def _batch_positions(batches: list, b_ids: list, b_all: list, b_runs: list,
                     in_group: np.ndarray | None, base: int, size: int, i: int) -> tuple | None:
    """Batch i's accesses of the group: (batch, their rows or None for all, their rows in the
    group's buffer). In (addr, seq) order each word's accesses of this batch come together, at the
    batch's offset for the word, in seq order: a stable sort by word id (a radix sort) says which."""
    ids = b_ids[i]
    present, n_of, first = b_runs[i]
    if in_group is None:
        sel = None if b_all[i] else np.flatnonzero(ids >= 0)
    else:
        sel = np.flatnonzero(in_group[ids])
        if len(sel) == len(ids):
            sel = None
        keep = in_group[present]
        present, n_of, first = present[keep], n_of[keep], first[keep]
    if sel is not None and len(ids) <= INT32_MAX:
        sel = sel.astype(np.int32)  # half the memory traffic, and numpy indexes with it as fast
    w = ids if sel is None else ids[sel]
    if len(w) == 0:
        return None
    o = np.argsort(w, kind="stable")
    starts = np.cumsum(n_of) - n_of
    pos_type = np.int32 if size <= INT32_MAX else np.intp  # rows of the group's buffer
    sorted_pos = np.repeat((first - base - starts).astype(pos_type), n_of)
    sorted_pos += np.arange(len(w), dtype=pos_type)
    pos = np.empty(len(w), dtype=pos_type)
    pos[o] = sorted_pos
    return batches[i], sel, pos


def _scatter_share(columns: tuple[str, ...], buf: np.ndarray, plan: list[tuple], writer: C.Writer,
                   base: int, size: int, atomic: np.ndarray, dtypes: dict[str, np.dtype]) -> None:
    """Scatter these columns of every batch's rows of the group, then write them (numpy's
    fancy indexing and pwrite release the GIL, so two of these run in parallel)."""
    for name in columns:
        if name == "atomic":  # bit-packed at the end: groups need not start at a byte boundary
            dst = atomic[base:base + size]
        else:
            dst = buf[: size * dtypes[name].itemsize].view(dtypes[name])
        for batch, sel, pos in plan:
            col = _column(batch, name)
            dst[pos] = col if sel is None else col[sel]
        if name != "atomic":
            writer.write(name, dst, base)


def _side_work(rd: RunDir, tmp: Path, files: dict[str, str], inbox: queue.Queue,
               stats: dict, vclocks: intact.VclockRead) -> tuple[dict[str, C.Layout], list[str]]:
    """Everything but the accesses, on its own thread while the main one reads the events: the
    vector clocks, the catalogue's side tables, the schedule (part by part, as the main thread
    sends them); then, once it sends the events' facts, the other events and the rest of the
    catalogue. Returns the layouts it wrote and the build's notes, in a stable order."""
    t0 = time.perf_counter()
    out: dict[str, C.Layout] = {}
    vnotes = list(vclocks.notes)
    vt = _sort_vclocks(intact.concat_vclocks(vclocks, rd.location))
    out["vclocks"] = C.write_table(tmp / files["vclocks"], files["vclocks"], S.VCLOCKS,
                                   {f.name: _np(vt.column(f.name)) for f in S.VCLOCKS}, narrow=True)
    stats["vclocks"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tnotes: list[str] = []
    con = connect(tmp / INDEX_FILE, read_only=False)
    try:
        con.execute(load_sql("index_tables"))
        side = {}
        for name in ("symbols", "bits", "sites", "threads"):
            table, note = rd.read_side_table(name)
            if note:
                tnotes.append(note)
            side[name] = table
            _insert(con, name, table)
        _insert(con, "words", words_table(side["symbols"]))
        machines = rd.machines
        cores = rd.cores
        _insert(con, "machines", pa.table({
            "machine": pa.array(range(len(machines)), pa.int16()), "name": pa.array(machines, pa.string()),
            "cores": pa.array([cores.get(m, 0) for m in machines], pa.int32())}))
        ports = rd.ports
        _insert(con, "ports", pa.table({"port": pa.array(range(len(ports)), pa.int64()),
                                        "name": pa.array(ports, pa.string())}))
        _insert(con, "checkpoints", rd.read_checkpoints())
        _insert(con, "meta", _pairs([(k, json.dumps(v)) for k, v in sorted(rd.meta.items())]))
        stats["catalogue"] = time.perf_counter() - t0

        schedule = _Schedule()
        t_sched = 0.0
        while True:
            what, payload = inbox.get()
            if what == "abort":
                return out, []
            if what == "events":
                break
            t1 = time.perf_counter()
            for b in payload:  # batch by batch: cache-sized arrays beat fewer, bigger calls
                schedule.add(b["machine"], b["core"], b["thread"], b["seq"], b["cycle"])
            t_sched += time.perf_counter() - t1
        stats["schedule"] = t_sched

        t0 = time.perf_counter()
        ev = payload
        cols = {}
        for f in S.EVENTS:
            chunks = [_np(b.column(f.name)) for b in ev["others"]]
            cols[f.name] = (np.concatenate(chunks) if chunks
                            else np.empty(0, dtype=C.TYPES[C.type_name(f)][0]))
        out["other_events"] = C.write_table(tmp / files["other_events"], files["other_events"],
                                            S.EVENTS, cols, narrow=True)
        stored = {**ev["layouts"], **out}
        for name in TABLES:  # the views bind to the bulk tables' names and stored columns
            con.register(REGISTERED[name], stored[name].schema.empty_table())
        con.execute(views_sql(stored["accesses"]))
        thread_names = dict(zip(side["threads"].column("thread").to_pylist(),
                                side["threads"].column("name").to_pylist()))
        _insert(con, "schedule", schedule.table(machines, thread_names))
        _insert(con, "word_offsets", pa.table({
            "addr": pa.array(ev["words"], pa.int64()), "start": pa.array(ev["cum"][:-1]),
            "count": pa.array(ev["wcounts"])}))
        notes = ev["notes"] + vnotes + tnotes
        layouts = dict(ev["layouts"], **out)
        info = {
            "index_format": INDEX_FORMAT, "schema_version": S.SCHEMA_VERSION,
            "fingerprint": ev["info"]["fingerprint"],
            "data": json.dumps({k: v.to_json() for k, v in layouts.items()}),
            **{k: ev["info"][k] for k in ("events", "max_seq", "accesses", "writes")},
            "vclocks": vt.num_rows, "words": ev["info"]["words"],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "warnings": json.dumps(notes),
        }
        _insert(con, "index_info", _pairs([(k, str(v)) for k, v in info.items()]))
        con.execute(f"CHECKPOINT {CATALOG}")
    finally:
        con.close()
    stats["catalogue"] += time.perf_counter() - t0
    return out, notes


def _insert(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    con.register("_src", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _src")
    finally:
        con.unregister("_src")


def _pairs(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"key": pa.array([r[0] for r in rows], pa.string()),
                     "value": pa.array([r[1] for r in rows], pa.string())})


def _sort_vclocks(vt: pa.Table) -> pa.Table:
    if vt.num_rows == 0:
        return vt
    thread = _np(vt.column("thread")).astype(np.int64)
    of = _np(vt.column("of_thread")).astype(np.int64)
    clock = _np(vt.column("clock"))
    # rows arrive in seq order, so each (thread, of_thread) pair's clocks already ascend: a stable
    # sort on the pair alone is enough (a radix sort when the pair number fits 16 bits)
    _, pair = np.unique(thread * (1 << 32) + of, return_inverse=True)
    pair = pair.astype(np.int16 if pair.max() < 32768 else np.int64)
    order = np.argsort(pair, kind="stable")
    c, p = clock[order], pair[order]
    if len(c) > 1 and np.any((p[1:] == p[:-1]) & (c[1:] < c[:-1])):
        order = np.lexsort((clock, of, thread))
    return vt.take(pa.array(order))


def words_table(symbols: pa.Table) -> pa.Table:
    """One row per word address covered by a symbol, with one canonical name."""
    rows: dict[int, tuple] = {}
    for s in sorted(symbols.to_pylist(), key=lambda s: (s["size"] != 1, s["addr"], s["name"])):
        size = max(int(s["size"]), 1)
        for k in range(size):
            a = s["addr"] + k
            if a in rows:
                continue
            name = s["name"] if size == 1 else f"{s['name']}[{k}]"
            rows[a] = (a, name, s["object"], s["field"], s["machine"], s["initial"] if k == 0 else 0)
    ordered = [rows[a] for a in sorted(rows)]
    cols = list(zip(*ordered)) if ordered else [[]] * 6
    return pa.table({
        "addr": pa.array(cols[0], pa.int64()), "name": pa.array(cols[1], pa.string()),
        "object": pa.array(cols[2], pa.string()), "field": pa.array(cols[3], pa.string()),
        "machine": pa.array(cols[4], pa.string()), "initial": pa.array(cols[5], pa.uint64()),
    })
