"""Building a run's query index (see queries/index.py for the layout and why): pass 1 reads the
events once (a dense word id for every access, the other events, every batch's narrowed columns
spilled to a file); pass 2 scatters each group of words' accesses into (addr, seq) order, straight
into the column file; the catalogue is built meanwhile on another thread (index_catalogue)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracer import schema as S

from . import columns as C
from . import index_check, intact, stack_names
from .index_encodings import SAMPLE_EVERY, Lookups, SplitRuns
from .errors import QueryError, QueryWarning, first_line
from .index_catalogue import ScheduleRuns, side_work
from .index_progress import Progress, want_progress
from .index_state import (
    ACCESS_COLUMNS,
    ACCESS_SCHEMA,
    CATALOG,
    DATA_DIR,
    FILE_PREFIX,
    INDEX_FILE,
    TABLES,
    IndexState,
    checksums_name,
    connect,
    open_data,
    register,
    to_numpy,
)
from .part_reader import PartReader
from .rundir import RunDir, kind_codes, mode_codes

INT32_MAX = np.iinfo(np.int32).max
GROUP_ROWS = 32 * 1024 * 1024  # accesses per sorted group (the scatter buffers' size)
# integer columns of `accesses` stored in the narrowest type that holds all their values
NARROW = ("seq", "cycle", "machine", "core", "thread", "site", "clock", "issued")
# the columns each scatter thread moves (about the same work each); `addr` is run-end encoded
SCATTER_SHARES = (("seq", "cycle", "old", "new", "kind"),
                  ("clock", "machine", "core", "thread", "site", "atomic", "mode", "issued"))



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


class _Spill:
    """Pass 2's input, written as pass 1 reads it: every batch's narrowed columns (see _kept) go to
    a file in the build folder, memory-mapped for pass 2 (pages the kernel may drop and read again),
    so that the build's own memory does not grow with the recording (the event parts are
    compressed, so pass 2 cannot map them as it did when they were plain Arrow)."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "wb")
        self.size = 0
        self.map = None

    def put(self, columns: dict[str, np.ndarray]) -> dict[str, tuple[int, str, int]]:
        """Write a batch's columns; where they are: name -> (offset, dtype, count)."""
        out = {}
        for name, v in columns.items():
            v = np.ascontiguousarray(v)
            self.file.write(v)
            out[name] = (self.size, v.dtype.str, len(v))
            pad = -v.nbytes % 8  # each column 8-byte aligned
            if pad:
                self.file.write(bytes(pad))
            self.size += v.nbytes + pad
        return out

    def mapped(self, batches: list[dict]) -> list[dict[str, np.ndarray]]:
        """The batches' columns as read-only numpy views of the file."""
        import mmap

        self.file.close()
        if self.size:
            with open(self.path, "rb") as f:
                self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self.map if self.map is not None else b""
        return [{name: np.frombuffer(buf, dtype=np.dtype(dt), count=n, offset=off) if n else
                 np.empty(0, dtype=np.dtype(dt)) for name, (off, dt, n) in b.items()} for b in batches]

    def close(self) -> None:
        self.file.close()
        self.map = None  # (unmapped when the last view goes)


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


DERIVED_FROM = C.DERIVED  # a column of the recording -> what the index may store instead


class _ValueRanges:
    """The accesses' largest old and new, and the range of old_rel (columns.DERIVED), to store
    each in the narrowest type: a counter's or a flags word's values need far fewer than 64 bits,
    and a write's new - old is usually a small number (1, or one bit)."""

    def __init__(self):
        self.old = self.new = 0
        self.rel = [0, 0]
        self.below_2_63 = True
        self.delay: list[int] | None = None  # the range of issued_rel (None: no access yet)
        self.delays_positive = True  # every buffered store's issued_rel >= 1 (else issued is kept)

    def add(self, batch: pa.RecordBatch, kind: np.ndarray, rows: np.ndarray | None) -> None:
        old, new = to_numpy(batch.column("old")), to_numpy(batch.column("new"))
        cycle, issued = to_numpy(batch.column("cycle")), to_numpy(batch.column("issued"))
        if rows is not None:
            kind, old, new, cycle, issued = kind[rows], old[rows], new[rows], cycle[rows], issued[rows]
        if len(old) == 0:
            return
        delay = C.issued_rel(cycle, issued)
        lo, hi = int(delay.min()), int(delay.max())
        self.delay = [lo, hi] if self.delay is None else [min(self.delay[0], lo), max(self.delay[1], hi)]
        if hi > 0 or lo < 0:
            self.delays_positive = self.delays_positive and bool(np.all(delay[issued >= 0] >= 1))
        self.old, self.new = max(self.old, int(old.max())), max(self.new, int(new.max()))
        self.below_2_63 = self.below_2_63 and max(self.old, self.new) < 1 << 63
        if self.below_2_63:
            rel = C.old_rel(kind, old, new)
            self.rel = [min(self.rel[0], int(rel.min())), max(self.rel[1], int(rel.max()))]

    def choose(self, stored: dict[str, str]) -> tuple[dict[str, str], dict[str, int]]:
        """`stored` with new and old (or old_rel) in their narrowest types, and issued as
        issued_rel when that is narrower (run-end encoded, one run, when it is the same for every
        access: 0 under sc); and the columns of one value: name -> the value."""
        out = dict(stored, new=C.narrowest_uint(self.new))
        old = C.narrowest_uint(self.old)
        rel = C.narrowest_int(*self.rel)
        if self.below_2_63 and C.TYPES[rel][0].itemsize < C.TYPES[old][0].itemsize:
            out = {("old_rel" if k == "old" else k): (rel if k == "old" else v) for k, v in out.items()}
        else:
            out["old"] = old
        constant = {}
        if self.delay is not None and self.delays_positive:
            lo, hi = self.delay
            delay = "ree_int64" if lo == hi else C.narrowest_int(lo, hi)
            if lo == hi or C.TYPES[delay][0].itemsize < C.TYPES[out["issued"]][0].itemsize:
                out = {("issued_rel" if k == "issued" else k): (delay if k == "issued" else v)
                       for k, v in out.items()}
                if lo == hi:
                    constant["issued_rel"] = lo
        return out, constant


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
        v = to_numpy(batch.column(name))
        if v.dtype.kind in "iu" and len(v) and v.dtype.itemsize > 1:
            lo, hi = int(v.min()), int(v.max())
            t = C.narrowest_uint(hi) if lo >= 0 and v.dtype.kind == "u" else C.narrowest_int(lo, hi)
            if C.TYPES[t][0].itemsize < v.dtype.itemsize:
                v = v.astype(C.TYPES[t][0])
        out[name] = v
    return out


def _column(batch: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A stored column's values in one kept batch (old_rel and issued_rel computed)."""
    if name == "old_rel":
        return C.old_rel(batch["kind"], batch["old"], batch["new"])
    if name == "issued_rel":
        return C.issued_rel(batch["cycle"], batch["issued"])
    return batch[name]



def _name_stack_words(tmp: Path, state: IndexState) -> None:
    """C stack words accessed through pointers, named by the frame live then (stack_names.py);
    only for a run with recorded C frames."""
    con = connect(tmp / INDEX_FILE, read_only=False)
    try:
        register(con, open_data(tmp, state))
        stack_names.add_pointer_names(con)
        con.execute(f"CHECKPOINT {CATALOG}")
    finally:
        con.close()


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
    bar = Progress(want_progress(progress, guess))
    build_id = f"{time.time_ns():x}{os.getpid():x}"
    tmp = rd.path / f".index-build-{build_id}"
    try:
        (tmp / DATA_DIR).mkdir(parents=True)
    except OSError as err:
        raise QueryError(f"cannot write the index here ({err.strerror})", rd.location) from None
    try:
        try:
            state = _build(rd, tmp, build_id, parts, bar, notes, fingerprint)
            if stack_names.has_frames(rd):
                _name_stack_words(tmp, state)
            names = [Path(layout.file).name for layout in state.layouts.values()]
            sums = index_check.record(tmp / DATA_DIR, names)
            (tmp / DATA_DIR / checksums_name(state.layouts)).write_text(json.dumps(sums))
        except OSError as err:  # a full disk, a folder that went away
            raise QueryError(f"cannot build the index: {err.strerror or err}", rd.location) from None
        except duckdb.Error as err:
            raise QueryError(f"cannot build the index: {first_line(err)}", rd.location) from None
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


def _build(rd: RunDir, tmp: Path, build_id: str, parts: list[Path], bar: Progress,
           notes: list[str], fingerprint: str) -> IndexState:
    files = {name: f"{DATA_DIR}/{FILE_PREFIX[name]}-{build_id}.cols" for name in TABLES}
    stats: dict[str, float] = {}
    c0 = time.process_time()
    # the vector clocks, the catalogue and the schedule are built by another thread meanwhile
    inbox: queue.Queue = queue.Queue()
    vclocks = intact.read_vclocks(rd)  # first: the events' intact prefix depends on them
    side_pool = ThreadPoolExecutor(max_workers=1)
    side = side_pool.submit(side_work, rd, tmp, files, inbox, stats, vclocks)
    pool = ThreadPoolExecutor(max_workers=len(SCATTER_SHARES))
    try:
        return _build_events(rd, tmp, files, parts, bar, notes, fingerprint, stats, c0, inbox, side,
                             pool, intact.Prefix(parts, vclocks))
    finally:
        inbox.put(("abort", None))  # (ignored when the side work is done)
        pool.shutdown()
        side_pool.shutdown(wait=True)  # never leave it writing into a folder about to be removed


def _build_events(rd: RunDir, tmp: Path, files: dict[str, str], parts: list[Path], bar: Progress,
                  notes: list[str], fingerprint: str, stats: dict, c0: float, inbox: queue.Queue,
                  side, pool: ThreadPoolExecutor, prefix: intact.Prefix) -> IndexState:
    # -- pass 1: read every part; the other events, a word id for every access -------------------
    t0 = time.perf_counter()
    bar.stage("reading events", _meta_int(rd.meta, "events") or len(parts))
    dense = _Dense()
    spill = _Spill(tmp / "pass2.spill")  # each batch's columns for pass 2, narrowed (see _kept)
    batches: list[dict] = []  # ... where they are in the spill file (memory-mapped for pass 2)
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
    lookups = Lookups()  # which columns are a function of site or thread (index_encodings)
    split_runs = SplitRuns()  # ... and (estimated) how many runs each column's high part would have
    total = 0
    # the parts are read (decompressed) a few batches ahead, on a thread of their own
    # (queries.part_reader): the decoding overlaps this thread's work, and memory holds the
    # batches' narrowed columns (see _kept), never a decoded part
    if not parts:
        prefix.no_parts()
    with PartReader(parts) as reader:
        for i, path in enumerate(parts):
            if not prefix.part_ok(i):  # a missing part, or an earlier one was damaged
                break
            rel = f"{path.parent.name}/{path.name}"
            part_batches = []
            for raw, meta in reader.batches(i):
                if raw.num_rows == 0:
                    continue
                batch = _canonical_batch(raw, f"{rd.location}/{rel}")
                seq = to_numpy(batch.column("seq"))
                if not prefix.batch_ok(i, seq, meta):  # a gap in seq or lost clocks: stop here
                    break
                kind = to_numpy(batch.column("kind"))
                addr = to_numpy(batch.column("addr"))
                n = len(seq)
                max_seq = max(max_seq, int(seq.max()))
                for name, r in ranges.items():
                    a = seq if name == "seq" else to_numpy(batch.column(name))
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
                    machine = to_numpy(batch.column("machine"))
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
                _encodings(kept, None if acc_rows is None else is_acc, acc_rows, valid, present, lookups,
                           split_runs, len(batches) % SAMPLE_EVERY == 0, values.below_2_63)
                batches.append(spill.put(kept))
                part_batches.append({c: kept[c] for c in ScheduleRuns.COLUMNS})
                total += n
                bar.advance(n)
            if part_batches:
                inbox.put(("part", part_batches))
            read = reader.ended.get(i)
            if read is not None and read.problem and prefix.ended is None:
                prefix.part_problem(i, read)
    notes.extend(prefix.notes)
    notes.extend(intact.meta_notes(rd.meta, total, prefix.ended is not None))
    notes.extend(stack_names.frame_file_notes(rd))
    stats["pass1"] = time.perf_counter() - t0
    stats["pass1_cpu"], c0 = time.process_time() - c0, time.process_time()

    batches = spill.mapped(batches)
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
    stored, constant = values.choose(stored)
    if one_machine and n_words:  # each word's rows are one run of its machine, as of addr
        stored["machine"] = "ree_int64"
    luts = lookups.chosen(stored) if n_access else {}
    for name, (t, _) in luts.items():
        stored[name] = t
    dtypes = {name: np.dtype(bool) if t == "bool" else C.TYPES[t][0] for name, t in stored.items()
              if t in C.TYPES}
    splits: dict[str, tuple[int, str]] = {}  # column -> (low bits, low part's type)
    for name in [c for c in stored if c not in constant]:
        how = split_runs.choose(name, stored[name], n_access, n_words)
        if how is not None:
            splits[name] = how
    counts = {name: (1 if name in constant else len(luts[name][1]) if name in luts
                     else n_words if t == "ree_int64" else n_access) for name, t in stored.items()}
    planned = []
    for name, t in stored.items():
        if name in splits:
            planned.append((name + C.SPLIT_LO, splits[name][1], n_access))
        else:
            planned.append((name, t, counts[name]))
    # the split columns' high parts last: their runs are counted as pass 2 writes the rest
    planned += [(name + C.SPLIT_HI, "ree_int64", 0) for name in splits]
    layouts = {"accesses": C.Layout.plan(files["accesses"], n_access, planned)}
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
        for name, value in constant.items():  # one run
            writer.write(name, np.array([n_access, value], dtype=np.int64))
        for name, (t, table) in luts.items():  # a table by site or thread
            writer.write(name, table.astype(np.uint8 if C.lut_type(t)[0] == "bool" else C.TYPES[C.lut_type(t)[0]][0]))
        shares = [tuple(c for c in (DERIVED_FROM[c] if c not in stored and c in DERIVED_FROM else c
                                    for c in share) if stored.get(c, "ree_int64") != "ree_int64" and c in dtypes)
                  for share in SCATTER_SHARES]
        buf_rows = max((int(cum[hi] - cum[lo]) for lo, hi in groups), default=0)
        bufs = [np.empty(buf_rows * 8, dtype=np.uint8) for _ in SCATTER_SHARES]
        atomic = np.empty(n_access if "atomic" in dtypes else 0, dtype=bool)
        high_runs: dict[str, list] = {name: [] for name in splits}  # each split column's runs, group by group

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
            split = _Split(splits, high_runs, cum[lo:hi] - base, base)
            jobs = [pool.submit(_scatter_share, share, buf, plan, writer, base, size, atomic, dtypes, split)
                    for share, buf in zip(shares, bufs)]
            for job in jobs:
                job.result()
            plan.clear()
            bar.advance(size)
        if "atomic" in dtypes:
            writer.write("atomic", np.packbits(atomic, bitorder="little"))
        high = {name: (np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs]))
                if runs else (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
                for name, runs in high_runs.items()}
        if high:  # now that their runs are counted: the same layout, the high parts sized
            final = C.Layout.plan(files["accesses"], n_access, [
                (n, t, len(high[n[:-len(C.SPLIT_HI)]][0]) if t == "ree_int64" and n.endswith(C.SPLIT_HI)
                 and n[:-len(C.SPLIT_HI)] in high else c) for n, t, _, c in layouts["accesses"].columns])
            writer.resize(final)
            layouts["accesses"] = final
            for name, (ends, values) in high.items():
                writer.write(name + C.SPLIT_HI, np.concatenate([ends, values]))
        del atomic, bufs
    finally:
        writer.close()
    inbox.put(("accesses", layouts["accesses"]))  # its final layout, for the catalogue
    b_ids = batches = b_runs = None  # type: ignore[assignment]
    spill.close()
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


class _Split:
    """One group's split columns (index_encodings): their low bits are written like any column,
    their high parts' runs (broken at each word's first row) collected for the end."""

    def __init__(self, splits: dict[str, tuple[int, str]], high_runs: dict[str, list],
                 word_starts: np.ndarray, base: int):
        self.splits, self.high_runs, self.word_starts, self.base = splits, high_runs, word_starts, base

    CHUNK = 1 << 22  # rows worked on at once (the high parts' temporaries stay small)

    def write(self, name: str, values: np.ndarray, writer: C.Writer) -> None:
        bits, lo = self.splits[name]
        lo_type = C.TYPES[lo][0]
        starts, highs = [], []
        prev = None  # the high part of the row before this slice
        for k in range(0, len(values), self.CHUNK):
            v = values[k:k + self.CHUNK]
            writer.write(name + C.SPLIT_LO, v.astype(lo_type), self.base + k)  # the low bits (wraps)
            hi = v >> bits  # (in the column's own type)
            change = np.empty(len(hi), dtype=bool)
            change[0] = prev is None or bool(hi[0] != prev)
            np.not_equal(hi[1:], hi[:-1], out=change[1:])
            ws = self.word_starts[(self.word_starts >= k) & (self.word_starts < k + len(v))] - k
            change[ws] = True
            at = np.flatnonzero(change)
            starts.append(at + k)
            highs.append(hi[at].astype(np.int64))
            prev = hi[-1]
        starts = np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)
        ends = np.empty(len(starts), dtype=np.int64)
        ends[:-1] = starts[1:]
        if len(starts):
            ends[-1] = len(values)
        self.high_runs[name].append((ends + self.base, np.concatenate(highs) if highs else ends[:0]))


def _scatter_share(columns: tuple[str, ...], buf: np.ndarray, plan: list[tuple], writer: C.Writer,
                   base: int, size: int, atomic: np.ndarray, dtypes: dict[str, np.dtype],
                   split: _Split) -> None:
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
        if name in split.splits:
            split.write(name, dst, writer)
        elif name != "atomic":
            writer.write(name, dst, base)


def _encodings(kept: dict[str, np.ndarray], is_acc: np.ndarray | None, rows: np.ndarray | None,
               ids: np.ndarray, present: np.ndarray, lookups: Lookups, split_runs: SplitRuns,
               sample: bool, below_2_63: bool) -> None:
    """A batch's events (kept: its narrowed columns; is_acc, rows: which are accesses, None for
    all; ids: their word ids, present: the words) counted towards the accesses' encodings
    (index_encodings); `sample`: one of the batches whose high-part runs are counted."""
    lookups.add(kept, is_acc)

    def column(name: str, at: np.ndarray) -> np.ndarray | None:
        r = at if rows is None else rows[at]
        if name == "issued_rel":
            return C.issued_rel(kept["cycle"][r], kept["issued"][r])
        if name == "old_rel":
            return C.old_rel(kept["kind"][r], kept["old"][r], kept["new"][r]) if below_2_63 else None
        return kept[name][r]

    split_runs.add(ids, present, column, sample)
