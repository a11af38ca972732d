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

BATCH_ROWS = 65_536

# Columns of a row tuple, after seq (which is implicit: rows are dense).
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
    return hb.vc[t][t]


class Recorder:
    """sim.observer.Observer that writes events to `events/` and clock changes to `vclocks/`."""

    def __init__(self, events: TraceStream, vclocks: TraceStream, threads: int, started: list[int],
                 batch_rows: int = BATCH_ROWS):
        self.events = events
        self.vclocks = vclocks
        self.hb = HappensBefore(threads)
        for t in started:
            self.hb.start(t, 0)
        self.batch_rows = batch_rows
        self.rows: list[tuple] = []
        self.seq = 0  # the next event's seq
        self.flushed = 0  # events written to disk
        self.panic_seq: int | None = None
        self.system = None  # set once the System exists (it needs the observer to compile)

    def attach(self, system) -> None:
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic):
        t = core.thread.tid
        seq = self.seq
        self.seq = seq + 1
        if kind < 3:
            clock = self.hb.vc[t][t]
        else:
            clock = sync_clock(self.hb, kind, t, sync, seq)
            if kind == k.PANIC:
                self.panic_seq = seq
        rows = self.rows
        rows.append((self.system.cycle, core.mid, core.index, t, site, kind, addr, old, new, clock, sync, atomic))
        if len(rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        rows = self.rows
        if rows:
            self.rows = []
            self.events.write(rows_to_batch(rows, self.flushed))
            self.flushed += len(rows)
        changes = self.hb.changes
        if changes:
            self.hb.changes = []
            self.vclocks.write(vclock_batch(changes))

    def state(self) -> tuple:
        return (self.seq, self.hb.state())


def rows_to_batch(rows: list[tuple], first_seq: int) -> pa.RecordBatch:
    cols = list(zip(*rows))
    n = len(rows)
    kind = pa.DictionaryArray.from_arrays(pa.array(np.array(cols[5], dtype=np.int8)), schema.KIND_DICTIONARY)
    arrays = [
        pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64)),
        pa.array(np.array(cols[0], dtype=np.int64)),
        pa.array(np.array(cols[1], dtype=np.int16)),
        pa.array(np.array(cols[2], dtype=np.int16)),
        pa.array(np.array(cols[3], dtype=np.int32)),
        pa.array(np.array(cols[4], dtype=np.int32)),
        kind,
        pa.array(np.array(cols[6], dtype=np.int64)),
        pa.array(np.array(cols[7], dtype=np.uint64)),
        pa.array(np.array(cols[8], dtype=np.uint64)),
        pa.array(np.array(cols[9], dtype=np.int64)),
        pa.array(np.array(cols[10], dtype=np.int64)),
        pa.array(np.array(cols[11], dtype=np.bool_)),
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
