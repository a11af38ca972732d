"""The observer that records: every event becomes a row, rows become Arrow batches.

The hot path is the per-core emitter: one packed row written per event; columns are built with
numpy only when a batch is flushed. Vector clocks change only at synchronisation events (tracer.happens_before).
"""

from __future__ import annotations

import io
import struct

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


# One event as packed bytes: cycle, global core, thread, site, kind, addr, old, new, clock, sync,
# atomic. Packing on the hot path and reading the buffer back with numpy at flush time is about
# twice as fast as keeping Python tuples and converting them.
ROW = struct.Struct("<qhiibqQQqq?")
ROW_DTYPE = np.dtype([("cycle", "<i8"), ("gid", "<i2"), ("thread", "<i4"), ("site", "<i4"), ("kind", "i1"),
                      ("addr", "<i8"), ("old", "<u8"), ("new", "<u8"), ("clock", "<i8"), ("sync", "<i8"),
                      ("atomic", "?")])
assert ROW_DTYPE.itemsize == ROW.size


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
        self.buffer = io.BytesIO()  # packed rows since the last flush; never replaced (emitters hold .write)
        self.write = self.buffer.write
        self.pack = ROW.pack
        self.flushed = 0  # events written to disk
        self.panic_seq: int | None = None
        self.system = None
        self.core_machine: np.ndarray | None = None  # global core number -> machine, core on it
        self.core_index: np.ndarray | None = None

    @property
    def seq(self) -> int:
        """The next event's seq (events so far)."""
        return self.flushed + self.buffer.tell() // ROW.size

    def attach(self, system) -> None:
        self.system = system
        self.core_machine = np.array([c.mid for c in system.cores], dtype=np.int16)
        self.core_index = np.array([c.index for c in system.cores], dtype=np.int16)

    def event(self, kind, core, addr, old, new, site, sync, atomic):
        self.record(kind, core, self.system.cycle, addr, old, new, site, sync, atomic)

    def record(self, kind, core, cycle, addr, old, new, site, sync, atomic):
        t = core.thread.tid
        if kind < 3:
            clock = self.own[t]
        else:
            seq = self.seq
            clock = sync_clock(self.hb, kind, t, sync, seq)
            if kind == k.PANIC:
                self.panic_seq = seq
        self.write(self.pack(cycle, core.gid, t, site, kind, addr, old, new, clock, sync, atomic))

    def emitter(self, core):
        """The hot path: compiled instructions of `core` report here (see sim.observer)."""
        gid, own, write, pack, record = core.gid, self.own, self.write, self.pack, self.record

        def emit(kind, cycle, addr, old, new, site, sync, atomic):
            if kind < 3:  # read, write, rmw
                t = core.thread.tid
                write(pack(cycle, gid, t, site, kind, addr, old, new, own[t], sync, atomic))
            else:
                record(kind, core, cycle, addr, old, new, site, sync, atomic)
        return emit

    def flush(self) -> None:
        if self.buffer.tell():
            rows = np.frombuffer(self.buffer.getvalue(), dtype=ROW_DTYPE)
            self.buffer.seek(0)
            self.buffer.truncate()
            self.events.write(self.rows_to_batch(rows, self.flushed))
            self.flushed += len(rows)
        changes = self.hb.changes
        if changes:
            self.hb.changes = []
            self.vclocks.write(vclock_batch(changes))

    def state(self) -> tuple:
        return (self.seq, self.hb.state())

    def rows_to_batch(self, rows: np.ndarray, first_seq: int) -> pa.RecordBatch:
        n = len(rows)
        gid = rows["gid"]
        arrays = [
            pa.array(np.arange(first_seq, first_seq + n, dtype=np.int64)),
            pa.array(np.ascontiguousarray(rows["cycle"])),
            pa.array(self.core_machine[gid]),
            pa.array(self.core_index[gid]),
            pa.array(np.ascontiguousarray(rows["thread"])),
            pa.array(np.ascontiguousarray(rows["site"])),
            pa.DictionaryArray.from_arrays(pa.array(np.ascontiguousarray(rows["kind"])), schema.KIND_DICTIONARY),
            pa.array(np.ascontiguousarray(rows["addr"])),
            pa.array(np.ascontiguousarray(rows["old"])),
            pa.array(np.ascontiguousarray(rows["new"])),
            pa.array(np.ascontiguousarray(rows["clock"])),
            pa.array(np.ascontiguousarray(rows["sync"])),
            pa.array(np.ascontiguousarray(rows["atomic"])),
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
