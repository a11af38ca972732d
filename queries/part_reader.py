"""The event parts read ahead, batch by batch, on a thread of their own (for the index build).

The parts are zstd-compressed (tracer.trace_stream), so a batch costs its decoding when it is
read. Arrow's decoder releases the GIL, so decoding the next batches on this thread overlaps the
build's work on the current one; and reading batch by batch, a few batches ahead, keeps the
decoded events in memory to a few batches (a whole 4M-row part decoded is ~340 MB, and reading one
part ahead held two) whatever the recording's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from .rundir import StreamRead, iter_stream

AHEAD = 2  # decoded batches waiting for the reader (besides the one it works on)


class PartReader:
    """`batches(i)` gives part i's intact batches with their custom metadata, in order, then
    `ended[i]` says what went wrong after them (rundir.StreamRead: problem, rows); parts must be
    asked for in order. `close()` stops the reading (call it when done, also when stopping early)."""

    def __init__(self, parts: list[Path], ahead: int = AHEAD):
        self.parts = parts
        self.ended: dict[int, StreamRead] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="revtrace-part-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        i = -1
        try:
            for i, path in enumerate(self.parts):
                out = StreamRead(path)
                for item in iter_stream(path, out):
                    if not self._put(("batch", i, item)):
                        return
                if not self._put(("end", i, out)):
                    return
        except BaseException as err:  # a bug, or memory: the reader raises it
            self._put(("error", i, err))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def batches(self, i: int) -> Iterator[tuple[pa.RecordBatch, dict]]:
        while True:
            what, part, payload = self._queue.get()
            if what == "error":
                raise payload
            if part < i:  # the rest of a part its reader stopped early
                continue
            if what == "end":
                self.ended[i] = payload
                return
            yield payload

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> PartReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
