"""The writing half of a recording: packed rows in; Arrow batches, vector clocks and checkpoints out.

The Recorder (tracer.recorder) keeps the simulator's hot path down to one packed row per event
(sim.observer's row protocol: code, cycle as base and offset, addr, old, new). Everything else an event row holds
follows from the rows themselves, in order, and is worked out here, one batch at a time:

- machine, core, kind, site, atomic, mode: unpacked from the row's code;
- thread: the core's latest switch event (switch rows carry the thread in `new`), or the thread
  the core had when the batch began;
- sync: the lock word (acquire, release), the thread (spawn, wake: `new`; sleep: the sleeper),
  the message id (send, recv: the one thing the rows do not hold, passed alongside);
- clock: the vector clocks (tracer.happens_before) advanced over the batch's synchronisation
  events in seq order; every event carries its thread's epoch after the latest change at or
  before it.

A TraceWriter runs in the recording process or, through tracer.writer_process, in a process of
its own on another core; either way the files are byte-identical.
"""

from __future__ import annotations

import numpy as np
import numpy.ma  # noqa: F401  (pa.array(ndarray) imports it on first use: 20 ms in each writer process)
import pyarrow as pa

from sim import observer as k
from sim import snapshot_codec
from sim.schedule import ScheduleText

from . import schema
from .checkpoints import CheckpointWriter
from .errors import TraceError
from .happens_before import CLOCK_KINDS, HappensBefore
from .run_dir import RunDir
from .trace_stream import TraceStream

GID_MASK = (1 << k.CODE_GID_BITS) - 1


class TraceWriter:
    """Writes `events/`, `vclocks/`, `checkpoints/` and the dimension tables of one run directory."""

    def __init__(self, run: RunDir, cores: list[tuple[int, int]], threads: int, started: list[int],
                 schedule: ScheduleText | None = None):
        """`cores`: (machine, core on it) per global core number; `started`: threads running at
        the start (their first clock is written out at seq 0); `schedule`: where `steps` go."""
        self.run = run
        self.schedule_text = schedule
        self.events = TraceStream(run.path / schema.EVENTS_DIR, schema.EVENTS)
        self.vclocks = TraceStream(run.path / schema.VCLOCKS_DIR, schema.VCLOCKS)
        self.checkpoints = CheckpointWriter(run.path)
        self.hb = HappensBefore(threads)
        for t in started:
            self.hb.start(t, 0)
        self.core_machine = np.array([m for m, _ in cores], dtype=np.int16)
        self.core_index = np.array([c for _, c in cores], dtype=np.int16)
        self.core_thread = np.full(len(cores), -1, dtype=np.int32)  # each core's thread, batch start
        self.thread_epoch = np.array(self.hb.own, dtype=np.int64)  # each thread's epoch, batch start
        self.written = 0  # events written

    # ------------------------------------------------------------------ the writer's interface

    def tables(self, tables: list[tuple[str, pa.Schema, dict]]) -> None:
        for name, table_schema, columns in tables:
            self.run.write_table(name, table_schema, columns)

    def rows(self, first_seq: int, raw: bytes, messages: list[tuple[int, int]], pending=()) -> None:
        """Events first_seq.. as packed rows; `messages`: (seq, message id) of sends and recvs;
        `pending`: (core gid, issued cycle) of the release stores still buffered after them."""
        batch = self.batch(first_seq, raw, messages, pending) if raw else None
        changes = self.hb.changes
        if batch is not None:
            # the vector-clock rows written once this batch's changes are: a reader that has fewer
            # (a damaged or cut vclocks stream) knows this batch's clocks are not all there
            vrows = self.vclocks.rows + sum(len(c[3]) for c in changes)
            self.events.write(batch, {schema.VCLOCK_ROWS_KEY: b"%d" % vrows})
            self.written = first_seq + len(raw) // k.ROW.size
        self.thread_epoch = np.array(self.hb.own, dtype=np.int64)
        if changes:
            self.hb.changes = []
            self.vclocks.write(vclock_batch(changes))

    def steps(self, entries) -> None:
        """The run's scheduling decisions since the last call (sim.schedule.ScheduleLog.take)."""
        self.schedule_text.add(entries)

    def schedule(self, instructions: int, outcome: str | None) -> None:
        """RUN/schedule.json, once the run has ended. Its steps (one per burst, often over 100,000)
        are turned into text as they arrive (`steps`), here, in the writer's process when there is
        one: at the end, when the recording waits for this, only the last few remain."""
        path = self.run.path / schema.SCHEDULE_FILE
        try:
            path.write_text(self.schedule_text.finish(instructions, outcome))
        except OSError as e:
            raise TraceError(f"cannot write the schedule: {e.strerror or e}", str(path)) from None

    def checkpoint(self, seq: int, cycle: int, instructions: int, state: dict) -> None:
        """A checkpoint before event `seq` (every row before it has been given to `rows`). `state`
        is System.snapshot_state(), encoded here (System.snapshot's bytes): in the writer's
        process when there is one, so the simulator only copies its state."""
        self.checkpoints.write(seq, cycle, instructions, snapshot_codec.encode(state), self.hb.state())

    def close(self) -> int:
        """Finish the files; the number of events written."""
        self.events.close()
        self.vclocks.close()
        self.checkpoints.close()
        return self.written

    def abandon(self) -> int:
        """Close what can be closed after an error; the number of events readable."""
        self.events.close()
        self.vclocks.close()
        try:
            self.checkpoints.close()
        except Exception:
            pass
        return self.written

    # ------------------------------------------------------------------ rows to columns

    def batch(self, first_seq: int, raw: bytes, messages: list[tuple[int, int]], pending=()) -> pa.RecordBatch:
        n = len(raw) // k.ROW.size
        columns = np.frombuffer(raw, dtype="<i8").reshape(n, k.ROW_FIELDS).T.copy()  # a contiguous row per field
        # a store drained from a tso store buffer carries (issued - drained - 1) as its offset: the
        # event is the drain (when other cores can see it), `issued` says when the store ran
        buffered = columns[2] < 0
        code, addr = columns[0], columns[3]
        cycle = np.where(buffered, columns[1], columns[1] + columns[2])
        issued = np.where(buffered, columns[1] + columns[2] + 1, -1)
        old, new = columns[4].view(np.uint64), columns[5].view(np.uint64)
        gid = (code & GID_MASK).astype(np.intp)
        kind = ((code >> k.CODE_KIND_SHIFT) & 15).astype(np.int8)
        mode = ((code >> k.CODE_MODE_SHIFT) & 15).astype(np.int8)
        thread = self._threads(gid, kind, new)
        sync = self._syncs(kind, addr, new, thread, messages, first_seq)
        issues = self._issues(kind, mode, gid, thread, cycle, issued, pending)
        clocks = self._advance_clocks(kind, mode, thread, sync, addr, columns[4], columns[5], first_seq, issues)
        arrays = [
            pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64)),
            pa.array(cycle),
            pa.array(self.core_machine[gid]),
            pa.array(self.core_index[gid]),
            pa.array(thread),
            pa.array(((code >> k.CODE_SITE_SHIFT) - 1).astype(np.int32)),
            pa.DictionaryArray.from_arrays(pa.array(kind), schema.KIND_DICTIONARY),
            pa.array(addr),
            pa.array(old),
            pa.array(new),
            pa.array(clocks),
            pa.array(sync),
            pa.array(((code >> k.CODE_ATOMIC_SHIFT) & 1).astype(np.bool_)),
            pa.DictionaryArray.from_arrays(pa.array(mode), schema.MODE_DICTIONARY),
            pa.array(issued),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema.EVENTS)

    def _threads(self, gid: np.ndarray, kind: np.ndarray, new: np.ndarray) -> np.ndarray:
        thread = self.core_thread[gid]
        switches = np.flatnonzero(kind == k.SWITCH)
        for g in np.unique(gid[switches]) if len(switches) else ():
            rows = np.flatnonzero(gid == g)
            on_core = switches[gid[switches] == g]
            to = new[on_core].astype(np.int32)
            latest = np.searchsorted(on_core, rows, side="right") - 1
            thread[rows] = np.where(latest >= 0, to[latest], self.core_thread[g])
            self.core_thread[g] = to[-1]
        return thread

    @staticmethod
    def _syncs(kind, addr, new, thread, messages, first_seq) -> np.ndarray:
        sync = np.full(len(kind), -1, dtype=np.int64)
        locks = (kind == k.ACQUIRE) | (kind == k.RELEASE)
        sync[locks] = addr[locks]
        targets = (kind == k.SPAWN) | (kind == k.WAKE)
        sync[targets] = new[targets].astype(np.int64)
        sleeps = kind == k.SLEEP
        sync[sleeps] = thread[sleeps]
        if messages:
            at, ids = np.array(messages, dtype=np.int64).T
            sync[at - first_seq] = ids
        return sync

    def _issues(self, kind, mode, gid, thread, cycle, issued, pending) -> dict[int, list[tuple[int, int]]]:
        """Where buffered release stores take effect for happens-before (tracer.happens_before):
        row -> [(thread, issued cycle)], at the first event of the store's core after the store
        instruction that is not itself a drain from the buffer (those are older stores and wmb
        markers: before the store in program order), before the store's own drain or the batch's
        end (stores still buffered: `pending`). None when the drain comes first, or when an earlier
        batch had the row already."""
        stores = [(int(gid[i]), int(thread[i]), int(issued[i]), int(i))
                  for i in np.flatnonzero((issued >= 0) & (kind == k.WRITE) & (mode == k.REL)).tolist()]
        stores += [(g, int(self.core_thread[g]), c, len(kind)) for g, c in pending]
        out: dict[int, list[tuple[int, int]]] = {}
        after: dict[int, np.ndarray] = {}  # core -> its rows that are not drains
        for g, t, at, bound in stores:
            if self.hb.is_issued(t, at):
                continue
            if g not in after:
                after[g] = np.flatnonzero((gid == g) & (issued < 0) & ~((kind == k.FENCE) & (mode == k.WMB)))
            rows = after[g]
            j = int(np.searchsorted(cycle[rows], at, side="right"))
            if j < len(rows) and rows[j] < bound:
                out.setdefault(int(rows[j]), []).append((t, at))
        return out

    def _advance_clocks(self, kind, mode, thread, sync, addr, old, new, first_seq, issues) -> np.ndarray:
        """Apply the batch's synchronisation events to the vector clocks, in seq order: the sync
        kinds, every fence and non-plain access, the plain writes to words that have (or get, in
        this batch) a published clock, which they end, and where buffered release stores are issued
        (`issues`). The clock (epoch) of every event."""
        access = kind <= k.RMW
        ordered = (access & (mode != k.PLAIN)) | (kind == k.FENCE)
        hb = self.hb
        words = [np.fromiter(hb.published, np.int64, len(hb.published)),
                 np.fromiter(hb.fenced, np.int64, len(hb.fenced)), addr[ordered & (kind != k.READ)]]
        plain_writes = access & (mode == k.PLAIN) & (kind != k.READ)
        if plain_writes.any():
            plain_writes &= np.isin(addr, np.concatenate(words))
        applied = np.isin(kind, CLOCK_KINDS) | ordered | plain_writes
        if issues:
            selected = applied.copy()
            selected[list(issues)] = True
        else:
            selected = applied
        rows = np.flatnonzero(selected)
        drains: list[tuple[int, int]] = []  # release drains: the epoch they carry (as of issue)
        for i, kd, t, s, md, a, o, nw, ap in zip(rows.tolist(), kind[rows].tolist(), thread[rows].tolist(),
                                                 sync[rows].tolist(), mode[rows].tolist(), addr[rows].tolist(),
                                                 old[rows].tolist(), new[rows].tolist(), applied[rows].tolist()):
            for who, at in issues.get(i, ()):
                hb.issue(who, at, first_seq + i)
            if ap:
                e = hb.event(kd, t, s, first_seq + i, md, a, o, nw)
                if kd == k.WRITE and md == k.REL:
                    drains.append((i, e))
        clocks = self._clocks(thread, first_seq)
        for i, e in drains:
            clocks[i] = e
        return clocks

    def _clocks(self, thread: np.ndarray, first_seq: int) -> np.ndarray:
        clock = self.thread_epoch[thread]
        changed: dict[int, tuple[list[int], list[int]]] = {}
        for t, epoch, at, _ in self.hb.changes:
            ats, epochs = changed.setdefault(t, ([], []))
            ats.append(at - first_seq)
            epochs.append(epoch)
        for t, (ats, epochs) in changed.items():
            rows = np.flatnonzero(thread == t)
            latest = np.searchsorted(np.array(ats, dtype=np.int64), rows, side="right") - 1
            clock[rows] = np.where(latest >= 0, np.array(epochs, dtype=np.int64)[latest], clock[rows])
        return clock


def vclock_batch(changes: list[tuple[int, int, int, list[int]]]) -> pa.RecordBatch:
    """One row per (change, thread of the vector): the clock's entries, long format."""
    head = np.array([c[:3] for c in changes], dtype=np.int64)
    values = np.array([c[3] for c in changes], dtype=np.int64)
    width = values.shape[1]
    return pa.RecordBatch.from_arrays(
        [pa.array(np.repeat(head[:, 0], width).astype(np.int32)), pa.array(np.repeat(head[:, 1], width)),
         pa.array(np.repeat(head[:, 2], width)),
         pa.array(np.tile(np.arange(width, dtype=np.int32), len(changes))), pa.array(values.ravel())],
        schema=schema.VCLOCKS)
