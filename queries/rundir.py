"""A recorded run directory on disk: meta.json, the Arrow event streams and the side tables.

Everything here reads; nothing writes. The Arrow streams are memory-mapped and read batch by batch
so that a recording killed mid-write (a truncated last batch) still yields every complete batch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracer import schema as S
from tracer.errors import TraceError
from tracer.run_dir import RunDir as TracerRunDir
from tracer.trace_stream import DamagedPart, read_part_metadata

from .errors import QueryError

SIDE_TABLES = {
    "symbols": ("symbols.parquet", S.SYMBOLS),
    "bits": ("bits.parquet", S.BITS),
    "sites": ("sites.parquet", S.SITES),
    "threads": ("threads.parquet", S.THREADS),
}
# C frames (tracer/schema.py): absent from runs without C frames recorded before them, which is
# not a damage (their stack words keep their region's names)
OPTIONAL_TABLES = {
    "frame_words": ("frame_words.parquet", S.FRAME_WORDS),
    "frame_sites": ("frame_sites.parquet", S.FRAME_SITES),
    "frames": ("frames.parquet", S.FRAMES),
}
CHECKPOINT_INDEX = "index.parquet"


@dataclass
class StreamRead:
    """The complete batches of one Arrow stream file, and what went wrong after them (if anything)."""

    path: Path
    batches: list[pa.RecordBatch] = field(default_factory=list)
    problem: str | None = None
    metadata: list[dict] = field(default_factory=list)  # each batch's custom metadata
    streamed: int = 0  # rows handed out by iter_stream (which keeps no batches)

    @property
    def rows(self) -> int:
        return self.streamed + sum(b.num_rows for b in self.batches)


class RunDir:
    """A run directory. Construction checks that `path` is one (meta.json and events/)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.location = str(path)
        try:  # the recorder's own check of the run-directory contract
            self.meta = TracerRunDir.open(self.path).meta
        except TraceError as err:
            raise QueryError(err.message, self.location) from None
        self.meta_bytes = (self.path / S.META_FILE).read_bytes()
        version = self.meta.get("schema_version")
        if isinstance(version, int) and version > S.SCHEMA_VERSION:
            raise QueryError(f"recorded with schema version {version}; this revtrace reads up to "
                             f"version {S.SCHEMA_VERSION} (upgrade revtrace)", self.location)

    # -- the parts -------------------------------------------------------------------------------
    def event_parts(self) -> list[Path]:
        return sorted((self.path / S.EVENTS_DIR).glob("part-*.arrows"))

    def vclock_parts(self) -> list[Path]:
        folder = self.path / S.VCLOCKS_DIR
        return sorted(folder.glob("part-*.arrows")) if folder.is_dir() else []

    def fingerprint(self) -> str:
        """Changes whenever meta.json or any part file changes (name, size or modification time)."""
        h = hashlib.sha256(self.meta_bytes)
        for part in self.event_parts() + self.vclock_parts():
            st = part.stat()
            h.update(f"{part.parent.name}/{part.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        for name, _ in [*SIDE_TABLES.values(), *OPTIONAL_TABLES.values()]:
            p = self.path / name
            if p.exists():
                st = p.stat()
                h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
        return h.hexdigest()

    def newest_input_mtime(self) -> float:
        paths = [self.path / S.META_FILE] + self.event_parts() + self.vclock_parts()
        return max(p.stat().st_mtime for p in paths)

    # -- meta ------------------------------------------------------------------------------------
    @property
    def machines(self) -> list[str]:
        names = self.meta.get("machines") or []
        return [str(m) for m in names] if isinstance(names, list) else []  # (else: a warning)

    @property
    def ports(self) -> list[str]:
        """Port names by port id (a send's or recv's addr); empty for runs recorded without them."""
        ports = self.meta.get("ports") or {}
        return [str(p) for p in ports] if isinstance(ports, dict) else []

    @property
    def cores(self) -> dict[str, int]:
        cores = self.meta.get("cores") or {}
        if not isinstance(cores, dict):
            return {}
        return {str(k): v for k, v in cores.items() if type(v) is int}

    # -- reading ---------------------------------------------------------------------------------
    def read_side_table(self, name: str) -> tuple[pa.Table, str | None]:
        """A side table cast to its schema; an empty one (and a note) when the file is missing."""
        filename, schema = SIDE_TABLES[name]
        path = self.path / filename
        if not path.exists():
            return schema.empty_table(), f"{filename} is missing; {name} are unnamed"
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as err:
            raise QueryError(f"{filename} is unreadable ({err})", self.location) from None
        return conform(table, schema, f"{self.location}/{filename}"), None

    def read_optional_table(self, name: str) -> pa.Table:
        """An optional side table (OPTIONAL_TABLES) cast to its schema; empty when the file is missing."""
        filename, schema = OPTIONAL_TABLES[name]
        path = self.path / filename
        if not path.exists():
            return schema.empty_table()
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as err:
            raise QueryError(f"{filename} is unreadable ({err})", self.location) from None
        return conform(table, schema, f"{self.location}/{filename}")

    def read_checkpoints(self) -> pa.Table:
        path = self.path / S.CHECKPOINTS_DIR / CHECKPOINT_INDEX
        if not path.exists():
            return S.CHECKPOINTS.empty_table()
        try:
            return conform(pq.read_table(path), S.CHECKPOINTS, str(path))
        except (pa.ArrowException, OSError, QueryError):
            return S.CHECKPOINTS.empty_table()


def read_stream(path: Path) -> StreamRead:
    """Every complete record batch of an Arrow IPC stream; a truncated tail is noted, not fatal.
    (The recorder's own reader, tracer.trace_stream.read_part, does the reading.)"""
    out = StreamRead(path)
    for batch, meta in iter_stream(path, out):
        out.streamed -= batch.num_rows
        out.batches.append(batch)
        out.metadata.append(meta)
    return out


def iter_stream(path: Path, out: StreamRead):
    """The complete batches of an Arrow IPC stream, with their custom metadata, one at a time
    (decoded as they come: a compressed part is never held whole); what went wrong after them,
    if anything, is in `out.problem` once the iteration ends, and the rows handed out in
    `out.streamed`."""
    try:
        if path.stat().st_size == 0:
            out.problem = "empty file"
            return
        for batch, meta in read_part_metadata(path, strict=True):
            out.streamed += batch.num_rows
            yield batch, meta
    except DamagedPart as err:
        damaged = "checksum" in err.reason
        if out.rows:
            out.problem = f"{'damaged' if damaged else 'truncated'} after {out.rows:,} rows ({err.reason})"
        else:
            out.problem = f"{'damaged' if damaged else 'unreadable'} stream ({err.reason})"
    except (TraceError, OSError) as err:
        out.problem = f"unreadable stream ({_one_line(err)})"


def conform(table: pa.Table, schema: pa.Schema, location: str) -> pa.Table:
    """Select and cast `table`'s columns to `schema` (extra columns are dropped)."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise QueryError(f"missing column(s) {', '.join(missing)} (older schema?)", location)
    try:
        return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)
    except (pa.ArrowException, ValueError) as err:
        raise QueryError(f"columns do not match the schema ({_one_line(err)})", location) from None


_KIND_INDEX = {name: i for i, name in enumerate(S.KIND_NAMES)}
_MODE_INDEX = {name: i for i, name in enumerate(S.MODE_NAMES)}


def kind_codes(column: pa.Array, location: str) -> pa.Array:
    """The event kinds of one batch as int8 codes in tracer.schema.KIND_NAMES order."""
    return _codes(column, S.KIND_NAMES, _KIND_INDEX, "event kind", location)


def mode_codes(column: pa.Array, location: str) -> pa.Array:
    """The access modes of one batch as int8 codes in tracer.schema.MODE_NAMES order."""
    return _codes(column, S.MODE_NAMES, _MODE_INDEX, "access mode", location)


def _codes(column: pa.Array, names: tuple, index: dict, what: str, location: str) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        dictionary = column.dictionary.cast(pa.string()).to_pylist()
        indices = column.indices.cast(pa.int8())
        if dictionary[: len(names)] == list(names)[: len(dictionary)]:
            return indices
        unknown = [d for d in dictionary if d not in index]
        if unknown:
            raise QueryError(f"unknown {what}(s) {', '.join(map(repr, unknown))}", location)
        lut = pa.array([index[d] for d in dictionary], pa.int8())
        return pc.take(lut, indices)
    if pa.types.is_integer(column.type):
        return column.cast(pa.int8())
    values = column.cast(pa.string())
    codes = pc.index_in(values, value_set=pa.array(names, pa.string()))
    if codes.null_count:
        bad = sorted(set(pc.filter(values, pc.is_null(codes)).to_pylist()))
        raise QueryError(f"unknown {what}(s) {', '.join(map(repr, bad))}", location)
    return codes.cast(pa.int8())


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
