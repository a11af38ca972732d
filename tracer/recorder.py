"""The observer that records: every event becomes a row, rows become Arrow batches.

The hot path is `Recorder.event`: one tuple appended per event; columns are built only when a
batch is full. Vector clocks change only at synchronisation events (tracer.happens_before).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sim import observer as k

from . import schema
from .happens_before import HappensBefore
from .trace_stream import TraceStream

# Columns of an event row, after seq (seq is implicit: rows are dense).
ROW_FIELDS = ("cycle", "machine", "core", "thread", "site", "kind", "addr", "old", "new", "clock", "sync", "atomic")


def sync_clock(hb: HappensBefore, kind: int, t: int, sync: int, seq: int) -> int:
    """Apply a non-access event to the vector clocks and return the clock the event carries."""
    if kind == k.ACQUIRE:
        return hb.acquire(t, sync, seq)
    if kind == k.RELEASE:
        return hb.release(t, sync, seq)
    if kind == k.SEND:
        return hb.send(t, sync, seq)
    if kind == k.RECV:
        return hb.recv(t, sync, seq)
    if kind == k.SPAWN:
        return hb.spawn(t, sync, seq)
    if kind == k.WAKE:
        return hb.wake(t, sync, seq)
    if kind == k.SLEEP:
        return hb.sleep(t, seq)
    return hb.own[t]


class Recorder:
    """sim.observer.Observer that writes events to `events/` and clock changes to `vclocks/`.

    Rows are buffered in memory and written as one Arrow batch at each `flush`, which the record
    session calls at every scheduling pause (a few thousand instructions): a crash loses at most
    the rows since the last flush.
    """

    def __init__(self, events: TraceStream, vclocks: TraceStream, threads: int, started: list[int]):
        self.events = events
        self.vclocks = vclocks
        self.hb = HappensBefore(threads)
        for t in started:
            self.hb.start(t, 0)
        self.own = self.hb.own  # each thread's epoch, shared with hb (never rebound while recording)
        self.rows: list[tuple] = []
        self.append = self.rows.append
        self.flushed = 0  # events written to disk
        self.panic_seq: int | None = None
        self.system = None
        self.core_machine: np.ndarray | None = None  # global core number -> machine, core on it
        self.core_index: np.ndarray | None = None

    @property
    def seq(self) -> int:
        """The next event's seq (events so far)."""
        return self.flushed + len(self.rows)

    def attach(self, system) -> None:
        self.system = system
        self.core_machine = np.array([c.mid for c in system.cores], dtype=np.int16)
        self.core_index = np.array([c.index for c in system.cores], dtype=np.int16)

    def event(self, kind, core, addr, old, new, site, sync, atomic):
        t = core.thread.tid
        if kind < 3:  # read, write, rmw: the hot path
            self.append((self.system.cycle, core.gid, t, site, kind, addr, old, new, self.own[t], sync, atomic))
            return
        seq = self.flushed + len(self.rows)
        clock = sync_clock(self.hb, kind, t, sync, seq)
        if kind == k.PANIC:
            self.panic_seq = seq
        self.append((self.system.cycle, core.gid, t, site, kind, addr, old, new, clock, sync, atomic))

    def flush(self) -> None:
        rows = self.rows
        if rows:
            self.rows = []
            self.append = self.rows.append
            self.events.write(self.rows_to_batch(rows, self.flushed))
            self.flushed += len(rows)
        changes = self.hb.changes
        if changes:
            self.hb.changes = []
            self.vclocks.write(vclock_batch(changes))

    def state(self) -> tuple:
        return (self.seq, self.hb.state())

    def rows_to_batch(self, rows: list[tuple], first_seq: int) -> pa.RecordBatch:
        n = len(rows)
        try:
            table = np.array(rows, dtype=np.int64)  # one conversion for every column
            cols = [table[:, i] for i in range(11)]
            old, new = cols[6].view(np.uint64), cols[7].view(np.uint64)
        except OverflowError:  # a value >= 2**63 somewhere: convert column by column
            split = list(zip(*rows))
            cols = [np.array(c, dtype=np.uint64 if i in (6, 7) else np.int64) for i, c in enumerate(split)]
            old, new = cols[6], cols[7]
        gid = cols[1]
        arrays = [
            pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64)),
            pa.array(cols[0]),
            pa.array(self.core_machine[gid]),
            pa.array(self.core_index[gid]),
            pa.array(cols[2].astype(np.int32)),
            pa.array(cols[3].astype(np.int32)),
            pa.DictionaryArray.from_arrays(pa.array(cols[4].astype(np.int8)), schema.KIND_DICTIONARY),
            pa.array(cols[5]),
            pa.array(old),
            pa.array(new),
            pa.array(cols[8]),
            pa.array(cols[9]),
            pa.array(cols[10].astype(np.bool_)),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema.EVENTS)


def vclock_batch(changes: list[tuple[int, int, int, list[int]]]) -> pa.RecordBatch:
    thread, clock, seq, of_thread, value = [], [], [], [], []
    for t, epoch, at, vc in changes:
        for other, v in enumerate(vc):
            thread.append(t)
            clock.append(epoch)
            seq.append(at)
            of_thread.append(other)
            value.append(v)
    return pa.RecordBatch.from_arrays(
        [pa.array(thread, pa.int32()), pa.array(clock, pa.int64()), pa.array(seq, pa.int64()),
         pa.array(of_thread, pa.int32()), pa.array(value, pa.int64())], schema=schema.VCLOCKS)
