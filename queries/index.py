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
  write's new - old), issued as `issued_rel` (a tso store's cycles in the store buffer, 0 when
  not buffered: one run under sc) (columns.DERIVED). Columns that are a function of another
  (kind, mode and atomic of the site; core and machine of the thread) are a small table by that
  column's value, and seq, cycle, old, new, clock and issued_rel may be split into their low 8
  or 16 bits and a run-end encoded high part (index_encodings.py chooses; columns.py reads them).
  The view `accesses` gives every column the recording's type.
  other_events and vclocks are narrowed the same way, behind views of the same names. The
  catalogue uses DuckDB's smallest block size (16 KiB). On the mixed benchmark (bench_sim.py)
  this takes the index from 25.9 (sc) and 27.9 (tso) bytes per event to 14.9 and 16.9 (narrowing
  alone took race_counter from 30 to 19). `word_offsets` says where each word's rows start: the
  last-writer family (writeindex.py) and the race engine (races.py) read the same memory-mapped
  columns with numpy.
- `other_events` (index/other-<build>.cols): every other event, in seq order.
- `vclocks` (index/vclocks-<build>.cols): in (thread, of_thread, clock) order.
- `events`: the view `accesses` UNION ALL `other_events` (every event is stored once).

Why column files and not DuckDB's storage or Parquet: on the 2-core reference machine DuckDB's
table writer costs ~5.4 s of CPU per 10M event rows and Parquet's encoders ~1.7 s (plus ~0.6 s
for the separate writes sidecar the last-writer look-ups needed), while the build has to ingest
at least 3M events/s. Plain buffers cost one `pwrite`, the numpy paths read them without a decode,
and DuckDB scans registered Arrow memory about as fast as its own Parquet files (it cannot skip
row groups in them, though: a SQL look-up of one word scans the addr column).

The build (queries/index_build.py): one pass over the event streams, decoded batch by batch a
few batches ahead on a thread of their own (queries/part_reader.py), gives every access a dense
word id (2 bytes per event, kept) and counts each batch's accesses per word, so that every batch
knows where its rows of each word go in (addr, seq) order; each batch's columns, narrowed, are
spilled to a file in the build folder. Meanwhile another thread writes the vector clocks, the
catalogue and the schedule (queries/index_catalogue.py). Then, for groups of words of up to
GROUP_ROWS accesses (one group below that), every batch's rows of the group are sorted by word (a
radix sort) to give their final rows, and two threads scatter the columns, straight from the
memory-mapped spill file, into one reused buffer per thread that is written to the column file
with `pwrite`. The build's own memory is then the word ids and the group's buffers (about 26
bytes per access of the largest group), whatever the size of the parts (decoding them whole, as
the build did when they were first compressed, took 1.2 GB at 10M events).

The new index is written to a temporary folder and renamed into place (data files first, the
catalogue last), so a reader never sees half an index (and one that has it open keeps reading the
files it mapped); builders take a lock (flock on the run directory) so that two processes never
build the same index at once. It is rebuilt when missing, unreadable, of another index format or
schema version, or when its fingerprint (meta.json and the size and mtime of every part file and
side table) no longer matches the run directory. The data files are not fsynced: the index is a
cache of the recording (`open_run(rebuild=True)` rebuilds it).

This module finds a current index (or has it built); what an index is and how a connection opens
it are queries/index_state.py's, the progress bar queries/index_progress.py's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

import duckdb

from tracer import schema as S

from . import columns as C
from . import index_check
from .index_build import build_index
from .index_catalogue import words_table
from .errors import first_line
from .index_state import (  # noqa: F401  (the index's names, for its users)
    CATALOG,
    DATA_DIR,
    INDEX_FILE,
    INDEX_FORMAT,
    REGISTERED,
    TABLES,
    IndexState,
    checksums_name,
    connect,
    open_data,
    register,
    same_build,
)
from .rundir import RunDir

__all__ = ["IndexState", "INDEX_FILE", "build_index", "connect", "current_index", "ensure_index", "open_data",
           "register", "same_build", "words_table"]


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
        notices.append(f"index.duckdb is unreadable ({first_line(err)})")
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
        recorded = json.loads((rd.path / DATA_DIR / checksums_name(layouts)).read_bytes())
    except (OSError, ValueError) as err:
        notices.append(f"the index's checksums are unreadable ({first_line(err)})")
        return None
    problem = index_check.problem(rd.path / DATA_DIR, recorded if isinstance(recorded, dict) else {},
                                  names)
    if problem:
        notices.append(problem)
        return None
    return IndexState(path, int(info.get("events", 0)), layouts,
                      warnings=json.loads(info.get("warnings", "[]")),
                      max_seq=int(info.get("max_seq", -1)))

