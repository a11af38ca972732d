"""The observer that records: every event becomes one packed row, nothing more.

This is the recording's hot path, so it does as little as it can: compiled instructions write
their accesses and lock operations as rows themselves (sim.observer's row protocol), and the
system's own events (switches, spawns, messages, panics, ...) come through `record`, which packs
them the same way. The columns a row leaves out (thread, clock, sync id) are worked out by the
TraceWriter (tracer.trace_writer) when a batch is taken.
"""

from __future__ import annotations

import io

from sim import observer as k

from .errors import TraceError

# Columns of an event row, after seq (seq is implicit: rows are dense).
ROW_FIELDS = ("cycle", "machine", "core", "thread", "site", "kind", "addr", "old", "new", "clock", "sync", "atomic",
              "mode")


class Recorder:
    """sim.observer.Observer that packs every event into one ordered buffer of rows."""

    def __init__(self):
        # packed rows since the last take: rows 0 .. tell(). Never replaced (writers hold .write) nor
        # truncated: rewinding keeps its memory for the next batch, where truncating would free it
        # and growing it again would cost page faults and copies every batch
        self.buffer = io.BytesIO()
        self.write = self.buffer.write
        self.pack = k.ROW.pack
        self.messages: list[tuple[int, int]] = []  # (seq, message id) of sends and recvs since the last take
        self.taken = 0  # events handed on
        self.panic_seq: int | None = None
        self.system = None
        # C frames entered and left: (cycle, frame base, site of enter/leave, 1 entered / 0 left).
        # Kept on the side (written as frames.parquet when the run ends), so seqs are unchanged
        self.frames: list[tuple[int, int, int, int]] = []
        self.frame_writer = self.frames.append

    @property
    def seq(self) -> int:
        """The next event's seq (events so far)."""
        return self.taken + self.buffer.tell() // k.ROW.size

    def attach(self, system) -> None:
        if len(system.cores) > k.MAX_CORES:
            raise TraceError(f"cannot record more than {k.MAX_CORES} cores (this run has {len(system.cores)})")
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=k.PLAIN):
        self.record(kind, core, self.system.cycle, addr, old, new, site, sync, atomic, mode)

    def record(self, kind, core, cycle, addr, old, new, site, sync, atomic, mode=k.PLAIN):
        if kind == k.SEND or kind == k.RECV:
            self.messages.append((self.seq, sync))
        elif kind == k.PANIC:
            self.panic_seq = self.seq
        self.write(self.pack(k.row_code(site, kind, atomic, core.gid, mode), cycle, 0, addr, old, new))

    def row_writer(self, core):
        """Compiled instructions and the store buffer of `core` write their rows straight into
        the one buffer."""
        return self.write

    def buffered_releases(self) -> list[tuple[int, int]]:
        """(core gid, issued cycle) of every release store still in a tso store buffer: the writer
        needs them to give the store its thread's clock as of issue (tracer.happens_before)."""
        return [(c.gid, e[4]) for c in self.system.cores if c.sb is not None
                for e in c.sb.entries if len(e) > 4 and e[0] >= 0 and e[3] == k.REL]

    def hand_over(self, writer) -> None:
        """Give the rows since the last hand-over to `writer.rows` (a TraceWriter, or a
        WriterProcess): first seq, the packed rows, the message ids, the release stores still
        buffered. The rows are a view of this buffer, valid during the call only: the writer
        copies them (into its columns, or into the memory it shares with its process)."""
        first, messages, size = self.taken, self.messages, self.buffer.tell()
        self.messages = []
        self.taken = first + size // k.ROW.size  # handed over even if the writer fails on them
        pending = self.buffered_releases()
        view = self.buffer.getbuffer()
        rows = view[:size]
        try:
            writer.rows(first, rows, messages, pending)
        finally:
            rows.release()
            view.release()
            self.buffer.seek(0)
