"""Build (once) and find (every time) a run's query index: RUN/index.duckdb and RUN/index/.

`index.duckdb` is the catalogue users open: the small tables are stored in it (symbols, bits,
sites, threads, machines, words, schedule, write_offsets, checkpoints, meta, index_info) and the
three bulk tables are views over Parquet files in RUN/index/ that it names by relative path:

- `accesses` (index/accesses-<build>.parquet): every read, write and rmw, clustered by
  (addr, seq) in row groups of 64K rows, so a look-up of one word reads one or two row groups.
- `other_events` (index/other-<build>.parquet): every other event, in seq order.
- `vclocks` (index/vclocks-<build>.parquet): clustered by (thread, of_thread, clock).
- `events`: the view `accesses` UNION ALL `other_events` (every event is stored once).
- index/writes-<build>.npy: the writes and rmws once more, as a (6, W) uint64 array in (addr, seq)
  order (seq, cycle, old, new, who, where), memory-mapped by `WriteIndex` for the last-writer
  family: a binary search instead of a SQL round trip.

Why Parquet and not DuckDB's own storage: on the 2-core reference machine DuckDB's table writer
costs ~5.4 s of CPU per 10M event rows against ~1.5 s for Parquet (delta-encoded integers), and the
build has to ingest at least 3M events/s. DuckDB reads these files with row-group pruning.
Relative paths are resolved through DuckDB's `file_search_path`, which `queries.open_run` sets to
the run directory (to open index.duckdb with the duckdb CLI, start it in the run directory).

The build: one pass over the memory-mapped streams writes the other events and gives every access
a dense word id; each batch's accesses are then sorted by word (a radix sort), and for groups of
words of a few million accesses each, every batch's rows are scattered straight to their final
(addr, seq) positions, while a writer thread encodes the previous group. Memory stays bounded by
the group size plus about ten bytes per access.

The new index is written to a temporary folder and renamed into place (data files first, the
catalogue last), so a reader never sees half an index. It is rebuilt when missing, unreadable, of
another index format or schema version, or when its fingerprint (meta.json and the size and mtime
of every part file and side table) no longer matches the run directory.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracer import schema as S

from .errors import QueryError, QueryWarning
from .rundir import RunDir, conform, kind_codes, read_stream
from .sqlfiles import load_sql

INDEX_FILE = "index.duckdb"
DATA_DIR = "index"
INDEX_FORMAT = 5  # bump whenever the index layout changes
GROUP_ROWS = 8 * 1024 * 1024  # accesses per sorted group
ACCESS_ROW_GROUP = 64 * 1024
OTHER_ROW_GROUP = 128 * 1024
PARQUET_COMPRESSION = "none"
PROGRESS_MIN_EVENTS = 2_000_000  # show a progress bar from this size when stderr is a terminal
PROGRESS_ALWAYS_EVENTS = 20_000_000  # ... and from this size even when it is not
KIND = {name: i for i, name in enumerate(S.KIND_NAMES)}
assert (KIND["read"], KIND["write"], KIND["rmw"]) == (0, 1, 2)  # `code <= 2` means an access

ACCESS_SCHEMA = pa.schema([S.EVENTS.field(n) for n in
                           ("addr", "seq", "cycle", "machine", "core", "thread", "site", "kind",
                            "old", "new", "clock", "atomic")])
ACCESS_COLUMNS = ACCESS_SCHEMA.names
DELTA = "DELTA_BINARY_PACKED"
ACCESS_ENCODING = {c: DELTA for c in ("addr", "seq", "cycle", "machine", "core", "thread", "site", "clock")}
OTHER_ENCODING = {c: DELTA for c in ("seq", "cycle", "machine", "core", "thread", "site", "addr",
                                     "clock", "sync")}
VCLOCK_ENCODING = {c: DELTA for c in S.VCLOCKS.names}

# rows of the writes sidecar
W_SEQ, W_CYCLE, W_OLD, W_NEW, W_WHO, W_WHERE = range(6)


@dataclass
class IndexState:
    path: Path  # index.duckdb
    sidecar: Path  # index/writes-<build>.npy
    events: int
    warnings: list[str] = field(default_factory=list)
    built: bool = False  # True when this call (re)built it
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    max_seq: int = -1
    data: dict[str, Path] = field(default_factory=dict)  # accesses, other, vclocks, writes


def connect(rd_path: Path, index_path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to an index whose relative Parquet paths resolve inside the run directory."""
    con = duckdb.connect(str(index_path), read_only=read_only)
    path = str(rd_path.resolve()).replace("'", "''")
    con.execute(f"SET file_search_path = '{path}'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET parquet_metadata_cache = true")
    return con


# ------------------------------------------------------------------------------------------------
# finding a current index


def ensure_index(rd: RunDir, progress: bool | None = None, rebuild: bool = False) -> IndexState:
    """The run's index, (re)built first when it is missing or stale."""
    if not rebuild:
        state = current_index(rd)
        if state is not None:
            return state
    return build_index(rd, progress)


def current_index(rd: RunDir) -> IndexState | None:
    path = rd.path / INDEX_FILE
    if not path.exists():
        return None
    try:
        if path.stat().st_mtime < rd.newest_input_mtime():
            return None
        con = duckdb.connect(str(path), read_only=True)
        try:
            info = dict(con.execute("SELECT key, value FROM index_info").fetchall())
        finally:
            con.close()
    except (duckdb.Error, OSError):
        return None  # unreadable, an older layout, another DuckDB storage version: rebuild
    if (info.get("index_format") != str(INDEX_FORMAT)
            or info.get("schema_version") != str(S.SCHEMA_VERSION)
            or info.get("fingerprint") != rd.fingerprint()):
        return None
    data = json.loads(info.get("data", "{}"))
    if not data or not all((rd.path / f).is_file() for f in data.values()):
        return None
    return IndexState(path, rd.path / data["writes"], int(info.get("events", 0)),
                      warnings=json.loads(info.get("warnings", "[]")),
                      max_seq=int(info.get("max_seq", -1)),
                      data={k: rd.path / v for k, v in data.items()})


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

    def __init__(self):
        self.open: dict[int, list[int]] = {}  # core key -> [thread, start_seq, end_seq, start_cycle, end_cycle, n]
        self.done: list[np.ndarray] = []

    def add(self, machine, core, thread, seq, cycle) -> None:
        if len(seq) == 0:
            return
        key = machine.astype(np.int64) * 4096 + core
        small = key.min() >= 0 and key.max() < 32768
        order = np.argsort(key.astype(np.int16) if small else key, kind="stable")  # radix
        ct = (key << 32) | (thread.astype(np.int64) & 0xFFFFFFFF)
        cts = ct[order]  # each core's (core, thread) in seq order, cores one after the other
        brk = np.flatnonzero(cts[1:] != cts[:-1]) + 1
        starts = np.concatenate([[0], brk])
        ends = np.concatenate([brk, [len(cts)]]) - 1
        os_, oe = order[starts], order[ends]
        runs = np.stack([key[os_], thread[os_], seq[os_], seq[oe], cycle[os_], cycle[oe],
                         ends - starts + 1], axis=1).astype(np.int64)
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


class _ParquetSink:
    """A Parquet writer fed from a bounded queue by a background thread (encoding releases the GIL)."""

    def __init__(self, path: Path, schema: pa.Schema, row_group: int, encoding: dict[str, str]):
        self.writer = pq.ParquetWriter(
            str(path), schema, compression=PARQUET_COMPRESSION, use_dictionary=["kind"],
            column_encoding={k: v for k, v in encoding.items() if k in schema.names},
            write_statistics=True)
        self.row_group = row_group
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.rows = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            table = self.queue.get()
            if table is None:
                return
            if self.error is None:
                try:
                    self.writer.write_table(table, row_group_size=self.row_group)
                except BaseException as err:  # noqa: BLE001 - re-raised in close()
                    self.error = err

    def write(self, table: pa.Table) -> None:
        if self.error is not None:
            raise self.error
        if table.num_rows:
            self.rows += table.num_rows
            self.queue.put(table)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.writer.close()
        if self.error is not None:
            raise self.error


def _canonical_batch(batch: pa.RecordBatch, location: str) -> pa.RecordBatch:
    """A batch with exactly the EVENTS schema and kind as int8 codes under KIND_DICTIONARY."""
    if batch.schema.equals(S.EVENTS) and batch.column(6).dictionary.equals(S.KIND_DICTIONARY):
        return batch
    missing = [f.name for f in S.EVENTS if f.name not in batch.schema.names]
    if missing:
        raise QueryError(f"events lack column(s) {', '.join(missing)} (older schema?)", location)
    arrays = []
    for f in S.EVENTS:
        col = batch.column(f.name)
        if f.name == "kind":
            arrays.append(pa.DictionaryArray.from_arrays(kind_codes(col, location), S.KIND_DICTIONARY))
        else:
            try:
                arrays.append(col.cast(f.type))
            except (pa.ArrowException, ValueError) as err:
                raise QueryError(f"events column {f.name} has type {col.type}, expected {f.type} "
                                 f"({err})", location) from None
    return pa.RecordBatch.from_arrays(arrays, schema=S.EVENTS)


def _np(array) -> np.ndarray:
    """An Arrow array (or a chunked one) as numpy; dictionary arrays give their indices."""
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else (
            pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], array.type))
    if pa.types.is_dictionary(array.type):
        array = array.indices
    return array.to_numpy(zero_copy_only=False)


def _kind_array(codes: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8, copy=False)), S.KIND_DICTIONARY)


# ------------------------------------------------------------------------------------------------
# building


def build_index(rd: RunDir, progress: bool | None = None) -> IndexState:
    t_start = time.perf_counter()
    notes: list[str] = []
    fingerprint = rd.fingerprint()  # before reading: a part that grows meanwhile makes it stale
    parts = rd.event_parts()
    guess = int(rd.meta.get("events") or 0) or sum(p.stat().st_size for p in parts) // 64
    bar = _Progress(_want_progress(progress, guess))
    build_id = f"{time.time_ns():x}{os.getpid():x}"
    tmp = rd.path / f".index-build-{build_id}"
    try:
        (tmp / DATA_DIR).mkdir(parents=True)
    except OSError as err:
        raise QueryError(f"cannot write the index here ({err.strerror})", rd.location) from None
    try:
        state = _build(rd, tmp, build_id, parts, bar, notes, fingerprint)
        bar.close()
        # into place: the data files first, the catalogue (which names them) last
        (rd.path / DATA_DIR).mkdir(exist_ok=True)
        for f in (tmp / DATA_DIR).iterdir():
            os.replace(f, rd.path / DATA_DIR / f.name)
        os.replace(tmp / INDEX_FILE, rd.path / INDEX_FILE)
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    for old in (rd.path / DATA_DIR).iterdir():
        if build_id not in old.name:
            try:
                old.unlink()
            except OSError:
                pass
    for old in rd.path.glob(".index-build-*"):  # leftovers of killed builds
        try:
            if time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    state.path = rd.path / INDEX_FILE
    state.sidecar = rd.path / DATA_DIR / state.sidecar.name
    state.data = {k: rd.path / v for k, v in state.data.items()}
    state.built = True
    state.seconds = time.perf_counter() - t_start
    for note in notes:
        warnings.warn(QueryWarning(f"{rd.location}: {note}"), stacklevel=3)
    return state


def _build(rd: RunDir, tmp: Path, build_id: str, parts: list[Path], bar: _Progress,
           notes: list[str], fingerprint: str) -> IndexState:
    names = {k: f"{DATA_DIR}/{k}-{build_id}.{ext}" for k, ext in
             (("accesses", "parquet"), ("other", "parquet"), ("vclocks", "parquet"), ("writes", "npy"))}
    stats: dict[str, float] = {}
    c0 = time.process_time()

    # -- pass 1: read every part, write the other events, number the accesses' words ------------
    t0 = time.perf_counter()
    bar.stage("reading events", int(rd.meta.get("events") or 0) or len(parts))
    dense = _Dense()
    schedule = _Schedule()
    other_sink = _ParquetSink(tmp / names["other"], S.EVENTS, OTHER_ROW_GROUP, OTHER_ENCODING)
    batches: list[dict[str, np.ndarray]] = []  # per batch: zero-copy numpy columns of the accesses
    b_rows: list[np.ndarray] = []  # per batch: row numbers of its accesses
    b_ids: list[np.ndarray] = []  # per batch: their dense word ids
    expected_seq = 0
    max_seq = -1
    total = 0
    seq_problem = None
    try:
        for path in parts:
            read = read_stream(path)
            rel = f"{path.parent.name}/{path.name}"
            if read.problem:
                notes.append(f"{rel}: {read.problem}; kept the {read.rows:,} complete rows")
            others = []
            sched_cols: list[tuple] = []
            for raw in read.batches:
                if raw.num_rows == 0:
                    continue
                batch = _canonical_batch(raw, f"{rd.location}/{rel}")
                cols = {name: _np(batch.column(name)) for name in
                        ("seq", "cycle", "machine", "core", "thread", "site", "kind", "addr",
                         "old", "new", "clock", "atomic")}
                seq = cols["seq"]
                n = len(seq)
                if seq_problem is None and (seq[0] != expected_seq or (n > 1 and (
                        seq[-1] - seq[0] != n - 1 or not np.all(seq[1:] > seq[:-1])))):
                    seq_problem = (f"{rel}: seq is not dense from 0 (expected {expected_seq:,}, "
                                   f"found {int(seq[0]):,})")
                expected_seq = int(seq[-1]) + 1
                max_seq = max(max_seq, int(seq.max()))
                is_acc = (cols["kind"] <= 2) & (cols["addr"] >= 0)
                rows = np.flatnonzero(is_acc).astype(np.int32)
                if len(rows) < n:
                    others.append(batch.filter(pa.array(~is_acc)))
                b_rows.append(rows)
                b_ids.append(dense.ids(cols["addr"][rows]))
                batches.append(cols)
                sched_cols.append((cols["machine"], cols["core"], cols["thread"], seq, cols["cycle"]))
                total += n
                bar.advance(n)
            if sched_cols:  # once per part: the per-call overhead dominates at batch size
                schedule.add(*(np.concatenate(c) for c in zip(*sched_cols)))
            if others:
                other_sink.write(pa.Table.from_batches(others, schema=S.EVENTS))
    finally:
        other_sink.close()
    if seq_problem:
        notes.append(seq_problem)
    stats["pass1"] = time.perf_counter() - t0
    stats["pass1_cpu"], c0 = time.process_time() - c0, time.process_time()

    # -- word ids in address order; each batch's accesses sorted by word (radix) ------------------
    t0 = time.perf_counter()
    addrs_disc = dense.all_addrs()
    order = np.argsort(addrs_disc, kind="stable")
    words = addrs_disc[order]  # final id -> address
    remap = np.empty(len(order), dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    id_type = np.int16 if len(words) < 32768 else np.int32
    counts = np.zeros(len(words), dtype=np.int64)
    wcounts = np.zeros(len(words), dtype=np.int64)
    for i in range(len(batches)):
        fid = remap[b_ids[i]].astype(id_type)
        o = np.argsort(fid, kind="stable")
        b_ids[i] = fid[o]
        b_rows[i] = b_rows[i][o]
        if len(fid):
            counts += np.bincount(fid, minlength=len(words))
            k = batches[i]["kind"][b_rows[i]]
            wcounts += np.bincount(b_ids[i][k != 0], minlength=len(words))
    n_access = int(counts.sum())
    n_writes = int(wcounts.sum())
    wstart = np.concatenate([[0], np.cumsum(wcounts)])
    stats["sort_batches"] = time.perf_counter() - t0
    stats["sort_batches_cpu"], c0 = time.process_time() - c0, time.process_time()

    # -- pass 2: groups of words gathered from every batch, written in (addr, seq) order ----------
    t0 = time.perf_counter()
    bar.stage("sorting accesses", n_access)
    sidecar = np.lib.format.open_memmap(tmp / names["writes"], mode="w+", dtype=np.uint64,
                                        shape=(6, n_writes))
    sink = _ParquetSink(tmp / names["accesses"], ACCESS_SCHEMA, ACCESS_ROW_GROUP, ACCESS_ENCODING)
    cum = np.concatenate([[0], np.cumsum(counts)])
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        lo = 0
        while lo < len(words):
            hi = max(int(np.searchsorted(cum, cum[lo] + GROUP_ROWS, side="right")) - 1, lo + 1)
            # every batch's rows for these words go straight to their final positions: word by
            # word, batch after batch (so seq ascends within a word)
            size = int(cum[hi] - cum[lo])
            g = {c: np.empty(size, dtype=batches[0][c].dtype) for c in ACCESS_COLUMNS}
            cursor = (cum[lo:hi] - cum[lo]).astype(np.int64)
            moves: list[tuple] = []
            for i, ids in enumerate(b_ids):
                a, b = np.searchsorted(ids, (lo, hi))
                if b == a:
                    continue
                rows = b_rows[i][a:b].astype(np.intp)
                local = ids[a:b].astype(np.intp) - lo
                starts = np.flatnonzero(np.concatenate(([True], local[1:] != local[:-1])))
                lengths = np.diff(np.append(starts, len(local)))
                run_of = np.repeat(np.arange(len(starts)), lengths)
                pos = cursor[local] + (np.arange(len(local)) - starts[run_of])
                cursor[local[starts]] += lengths
                moves.append((batches[i], rows, pos))
            # the scatter itself, in two halves of the columns on two threads (numpy releases
            # the GIL for most of it; the Parquet writer thread encodes the previous group)
            list(pool.map(partial(_scatter, g, moves), SCATTER_HALVES))
            moves.clear()
            table = pa.Table.from_arrays(
                [_kind_array(g[c]) if c == "kind" else pa.array(g[c], ACCESS_SCHEMA.field(c).type)
                 for c in ACCESS_COLUMNS], schema=ACCESS_SCHEMA)
            sink.write(table)
            w = np.flatnonzero(g["kind"] != 0)
            if len(w):
                off = int(wstart[lo])
                sl = slice(off, off + len(w))
                sidecar[W_SEQ, sl] = g["seq"].take(w).view(np.uint64)
                sidecar[W_CYCLE, sl] = g["cycle"].take(w).view(np.uint64)
                sidecar[W_OLD, sl] = g["old"].take(w)
                sidecar[W_NEW, sl] = g["new"].take(w)
                sidecar[W_WHO, sl] = pack_who(g["machine"].take(w), g["core"].take(w), g["thread"].take(w))
                sidecar[W_WHERE, sl] = pack_where(g["site"].take(w), g["kind"].take(w), g["atomic"].take(w))
            bar.advance(size)
            lo = hi
    finally:
        pool.shutdown()
        sink.close()
    sidecar.flush()
    del sidecar
    if n_access == 0:  # an empty file still needs the schema
        pq.write_table(ACCESS_SCHEMA.empty_table(), tmp / names["accesses"])
    batches = b_ids = b_rows = None  # type: ignore[assignment]
    stats["pass2"] = time.perf_counter() - t0
    stats["pass2_cpu"], c0 = time.process_time() - c0, time.process_time()

    # -- vector clocks, clustered by (thread, of_thread, clock) -----------------------------------
    t0 = time.perf_counter()
    vparts = rd.vclock_parts()
    bar.stage("vector clocks", len(vparts))
    vtables = []
    for path in vparts:
        read = read_stream(path)
        rel = f"{path.parent.name}/{path.name}"
        if read.problem:
            notes.append(f"{rel}: {read.problem}; kept the {read.rows:,} complete rows")
        if read.batches:
            vtables.append(conform(pa.Table.from_batches(read.batches), S.VCLOCKS, f"{rd.location}/{rel}"))
        bar.advance(1)
    if not vparts:
        notes.append("no vclocks/ parts: happens-before knows program order only")
    vt = _sort_vclocks(pa.concat_tables(vtables) if vtables else S.VCLOCKS.empty_table())
    pq.write_table(vt, tmp / names["vclocks"], compression=PARQUET_COMPRESSION, use_dictionary=False,
                   column_encoding=VCLOCK_ENCODING, row_group_size=OTHER_ROW_GROUP)
    stats["vclocks"] = time.perf_counter() - t0
    stats["vclocks_cpu"], c0 = time.process_time() - c0, time.process_time()

    # -- the catalogue ----------------------------------------------------------------------------
    t0 = time.perf_counter()
    con = connect(tmp, tmp / INDEX_FILE, read_only=False)
    try:
        con.execute(load_sql("index_tables"))
        side = {}
        for name in ("symbols", "bits", "sites", "threads"):
            table, note = rd.read_side_table(name)
            if note:
                notes.append(note)
            side[name] = table
            _insert(con, name, table)
        _insert(con, "words", words_table(side["symbols"]))
        machines = rd.machines
        cores = rd.cores
        _insert(con, "machines", pa.table({
            "machine": pa.array(range(len(machines)), pa.int16()), "name": pa.array(machines, pa.string()),
            "cores": pa.array([cores.get(m, 0) for m in machines], pa.int32())}))
        thread_names = dict(zip(side["threads"].column("thread").to_pylist(),
                                side["threads"].column("name").to_pylist()))
        _insert(con, "schedule", schedule.table(machines, thread_names))
        _insert(con, "checkpoints", rd.read_checkpoints())
        _insert(con, "write_offsets", pa.table({
            "addr": pa.array(words, pa.int64()), "start": pa.array(wstart[:-1]),
            "count": pa.array(wcounts)}).filter(pa.array(wcounts > 0)))
        _insert(con, "meta", _pairs([(k, json.dumps(v)) for k, v in sorted(rd.meta.items())]))
        views = load_sql("views")
        for key, placeholder in (("accesses", "$ACCESSES"), ("other", "$OTHER"), ("vclocks", "$VCLOCKS")):
            views = views.replace(placeholder, f"'{names[key]}'")
        con.execute(views)
        info = {
            "index_format": INDEX_FORMAT, "schema_version": S.SCHEMA_VERSION,
            "fingerprint": fingerprint, "data": json.dumps(names), "events": total, "max_seq": max_seq, "accesses": n_access,
            "writes": n_writes, "vclocks": vt.num_rows, "words": len(words),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "warnings": json.dumps(notes),
        }
        _insert(con, "index_info", _pairs([(k, str(v)) for k, v in info.items()]))
        con.execute("CHECKPOINT")
    finally:
        con.close()
    stats["catalogue"] = time.perf_counter() - t0
    stats["catalogue_cpu"], c0 = time.process_time() - c0, time.process_time()
    return IndexState(tmp / INDEX_FILE, tmp / names["writes"], total, warnings=list(notes), stats=stats,
                      max_seq=max_seq, data=dict(names))


SCATTER_HALVES = (("addr", "seq", "cycle", "old", "new", "kind"),
                  ("clock", "machine", "core", "thread", "site", "atomic"))


def _scatter(g: dict[str, np.ndarray], moves: list[tuple], columns: tuple[str, ...]) -> None:
    for cols, rows, pos in moves:
        for c in columns:
            g[c][pos] = cols[c][rows]


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


# ------------------------------------------------------------------------------------------------
# packing of the sidecar's who/where rows


def pack_who(machine: np.ndarray, core: np.ndarray, thread: np.ndarray) -> np.ndarray:
    out = machine.astype(np.uint16).astype(np.uint64)
    out <<= np.uint64(16)
    out |= core.astype(np.uint16)
    out <<= np.uint64(32)
    out |= thread.astype(np.uint32)
    return out


def unpack_who(who: int) -> tuple[int, int, int]:
    thread = who & 0xFFFFFFFF
    return (who >> 48) & 0xFFFF, (who >> 32) & 0xFFFF, thread - (1 << 32) if thread >= 1 << 31 else thread


def pack_where(site: np.ndarray, kind: np.ndarray, atomic: np.ndarray) -> np.ndarray:
    out = atomic.astype(np.uint64)
    out <<= np.uint64(8)
    out |= kind.astype(np.uint8)
    out <<= np.uint64(32)
    out |= site.astype(np.uint32)
    return out


def unpack_where(where: int) -> tuple[int, int, bool]:
    site = where & 0xFFFFFFFF
    return site - (1 << 32) if site >= 1 << 31 else site, (where >> 32) & 0xFF, bool((where >> 40) & 1)
