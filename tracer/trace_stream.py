"""Arrow IPC stream files of events (and vector clocks): writing, rolling, and reading back.

Stream files, not IPC files: a stream is readable up to its last complete batch even when the
writer was killed, while an IPC file is unreadable until its footer is written. Each batch goes to
the operating system as soon as it is complete, so a SIGKILL loses at most the batch in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

from .errors import TraceError
from .schema import PART_PATTERN

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1  # zstd's fastest; higher levels cost 2-5x the time for 10-20% smaller files


def write_options() -> ipc.IpcWriteOptions:
    """The IPC options of every stream a recording writes (events, vector clocks)."""
    return ipc.IpcWriteOptions(compression=pa.Codec(COMPRESSION, COMPRESSION_LEVEL))


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

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None or self.rows_in_part >= self.roll_rows:
            self._open_next()
        try:
            self._writer.write_batch(batch)
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
    """The batches of one part. A truncated tail ends the iteration (or raises DamagedPart when strict)."""
    rows = 0
    try:
        source = pa.memory_map(str(path), "r")
    except OSError as e:
        raise TraceError(f"cannot read: {e}", str(path)) from None
    try:
        reader = ipc.open_stream(source)
    except (pa.ArrowException, OSError) as e:
        if strict:
            raise DamagedPart(path, 0, str(e).splitlines()[0] if str(e) else "unreadable") from None
        return
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            if strict:
                raise DamagedPart(path, rows, str(e).splitlines()[0] if str(e) else "truncated") from None
            return
        rows += batch.num_rows
        yield batch


def read_stream(folder: Path, schema: pa.Schema, strict: bool = False) -> Iterator[pa.RecordBatch]:
    for path in part_files(folder):
        yield from read_part(path, strict)
