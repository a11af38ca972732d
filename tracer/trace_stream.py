"""Arrow IPC stream files of events (and vector clocks): writing, rolling, and reading back.

Stream files, not IPC files: a stream is readable up to its last complete batch even when the
writer was killed, while an IPC file is unreadable until its footer is written. Each batch goes to
the operating system as soon as it is complete, so a SIGKILL loses at most the batch in memory.

Every batch carries a checksum in its message's custom metadata (CHECKSUM_KEY: the CRC-32 of its
decoded column buffers, so it checks the values whatever the encoding or compression), written
with the batch itself (so a kill cannot separate the two) and announced in the stream's schema
metadata; readers verify it, and a batch whose checksum is wrong or missing ends the readable
part of the stream like a truncation does (DamagedPart). Callers may add metadata of their own to
a batch (the events' `vclock_rows`: see tracer.trace_writer).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

from .errors import TraceError
from .schema import PART_PATTERN, STREAM_METADATA

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1  # zstd's fastest; higher levels cost 2-5x the time for 10-20% smaller files


CHECKSUM_KEY = b"revtrace.crc32"


def batch_checksum(batch: pa.RecordBatch) -> int:
    """CRC-32 of the batch's values: each column's data buffer (a dictionary column's indices, a
    boolean column's bits), exactly its rows; validity bitmaps when there are nulls."""
    crc = zlib.crc32(batch.num_rows.to_bytes(8, "little"))
    for col in batch.columns:
        if pa.types.is_dictionary(col.type):
            col = col.indices
        if col.null_count:
            crc = zlib.crc32(np.packbits(col.is_valid().to_numpy(zero_copy_only=False),
                                         bitorder="little"), crc)
            col = col.fill_null(0)
        if pa.types.is_boolean(col.type):
            data = np.packbits(col.to_numpy(zero_copy_only=False), bitorder="little")
        else:
            width = col.type.bit_width // 8
            buf = col.buffers()[1]
            data = memoryview(buf)[col.offset * width:(col.offset + len(col)) * width] if buf else b""
        crc = zlib.crc32(data, crc)
    return crc


def write_checked(writer: ipc.RecordBatchStreamWriter, batch: pa.RecordBatch,
                  metadata: dict[bytes, bytes] | None = None) -> None:
    """Write `batch` to an IPC stream writer with its checksum (for tools that write streams)."""
    writer.write_batch(batch, custom_metadata={CHECKSUM_KEY: b"%08x" % batch_checksum(batch),
                                               **(metadata or {})})


def write_options() -> ipc.IpcWriteOptions:
    """The IPC options of every stream a recording writes (events, vector clocks). Buffers are
    compressed on the writing thread: the writer process has one core, the simulator the other
    (Arrow's pool would compress on both, slowing the simulator; the bytes are the same)."""
    if COMPRESSION is None:  # (bench/bench_sim.py's "before": plain Arrow)
        return ipc.IpcWriteOptions(use_threads=False)
    return ipc.IpcWriteOptions(compression=pa.Codec(COMPRESSION, COMPRESSION_LEVEL), use_threads=False)


class TraceStream:
    """Writes record batches to `folder/part-NNNNN.arrows`, starting a new part every `roll_rows`."""

    def __init__(self, folder: Path, schema: pa.Schema, roll_rows: int = 4_000_000):
        self.folder = folder
        self.schema = schema
        self.roll_rows = roll_rows
        self.part = -1
        self.rows_in_part = 0
        self.rows = 0
        self._sink = None
        self._writer = None
        folder.mkdir(parents=True, exist_ok=True)

    def _open_next(self) -> None:
        self._close_part()
        self.part += 1
        path = self.folder / PART_PATTERN.format(self.part)
        try:
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = ipc.new_stream(self._sink, self.schema, options=write_options())
        except (OSError, pa.ArrowException) as e:
            raise TraceError(f"cannot write: {e}", str(path)) from None
        self.rows_in_part = 0

    def write(self, batch: pa.RecordBatch, metadata: dict[bytes, bytes] | None = None) -> None:
        """Write one batch, with its checksum (and `metadata`) in its message's custom metadata."""
        if self._writer is None or self.rows_in_part >= self.roll_rows:
            self._open_next()
        meta = {CHECKSUM_KEY: b"%08x" % batch_checksum(batch), **(metadata or {})}
        try:
            self._writer.write_batch(batch, custom_metadata=meta)
        except (OSError, pa.ArrowException) as e:
            raise TraceError(f"cannot write: {e}", str(self.folder / PART_PATTERN.format(self.part))) from None
        self.rows_in_part += batch.num_rows
        self.rows += batch.num_rows

    def _close_part(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                self._sink.close()
            except (OSError, pa.ArrowException):
                pass
            self._writer = self._sink = None

    def close(self) -> None:
        if self._writer is None and self.part < 0:
            self._open_next()  # an empty recording still has one (empty) part
        self._close_part()


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.arrows"))


class DamagedPart(TraceError):
    def __init__(self, path: Path, readable_rows: int, reason: str):
        self.path = path
        self.reason = reason
        self.readable_rows = readable_rows
        super().__init__(f"damaged Arrow stream ({reason}); the first {readable_rows} rows are readable", str(path))


def read_part(path: Path, strict: bool = False) -> Iterator[pa.RecordBatch]:
    """The batches of one part. A truncated tail or a batch whose checksum is wrong ends the
    iteration (or raises DamagedPart when strict)."""
    for batch, _ in read_part_metadata(path, strict):
        yield batch


def read_part_metadata(path: Path, strict: bool = False) -> Iterator[tuple[pa.RecordBatch, dict]]:
    """(batch, its custom metadata) for every intact batch of one part, checksums verified."""
    rows = 0
    try:
        source = pa.memory_map(str(path), "r")
    except OSError as e:
        raise TraceError(f"cannot read: {e.strerror or e}", str(path)) from None
    try:
        reader = ipc.open_stream(source)
    except (pa.ArrowException, OSError) as e:
        if strict:
            raise DamagedPart(path, 0, str(e).splitlines()[0] if str(e) else "unreadable") from None
        return
    checked = all((reader.schema.metadata or {}).get(k) == v for k, v in STREAM_METADATA.items())
    n = 0
    while True:
        try:
            batch, meta = reader.read_next_batch_with_custom_metadata()
            problem = _checksum_problem(batch, meta, checked, n)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as e:
            problem = str(e).splitlines()[0] if str(e) else "truncated"
        if problem:
            if strict:
                raise DamagedPart(path, rows, problem) from None
            return
        rows += batch.num_rows
        n += 1
        yield batch, dict(meta) if meta is not None else {}


def _checksum_problem(batch: pa.RecordBatch, meta, checked: bool, n: int) -> str | None:
    want = None if meta is None else dict(meta).get(CHECKSUM_KEY)
    if want is None:
        return f"batch {n} has no checksum" if checked else None
    if b"%08x" % batch_checksum(batch) != want:
        return f"batch {n} fails its checksum (damaged data)"
    return None


def read_stream(folder: Path, schema: pa.Schema, strict: bool = False) -> Iterator[pa.RecordBatch]:
    for path in part_files(folder):
        yield from read_part(path, strict)
