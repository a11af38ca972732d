"""The run directory: the on-disk contract between the recorder, replay and the queries.

See tracer/schema.py for the layout. `RunDir.create` makes a new one (refusing to clobber);
`RunDir.open` checks an existing one and reads it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from .errors import TraceError
from .trace_stream import DamagedPart, part_files, read_part


# The types of meta.json's fields that readers rely on (None: the field may be null).
META_TYPES: dict[str, tuple] = {
    "scenario": (str,), "scenario_hash": (str,), "seed": (int,), "options": (dict,),
    "events": (int,), "instructions": (int,), "cycles": (int,), "machines": (list,), "cores": (dict,),
    "threads": (list,), "truncated": (bool,), "outcome": (str,), "panic": (dict, type(None)),
    "schema_version": (int,), "invariants": (list,), "orderings": (list,), "locksets": (list,),
    "memory": (dict,), "ports": (dict,), "blocked": (list,),
}
_JSON_NAMES = {str: "a string", int: "an integer", dict: "an object", list: "a list", bool: "true or false",
               type(None): "null"}


def meta_problems(meta: dict, keys=None) -> list[str]:
    """`meta.json: FIELD is VALUE, expected TYPE` for each present field of the wrong type."""
    out = []
    for key in keys or META_TYPES:
        if key not in meta:
            continue
        value, types = meta[key], META_TYPES[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if ok and key == "events" and value < 0:
            ok = False
        if not ok:
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:40] + "…"
            out.append(f"meta.json: {key} is {shown}, expected "
                       + " or ".join(_JSON_NAMES.get(t, t.__name__) for t in types))
    return out


class RunDir:
    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.meta = meta

    # ------------------------------------------------------------------ creating

    @classmethod
    def create(cls, path: str | Path, force: bool = False) -> RunDir:
        path = Path(path)
        if path.exists():
            if not path.is_dir():
                raise TraceError("exists and is not a directory", str(path))
            entries = list(path.iterdir())
            if entries:
                if not force:
                    raise TraceError("output directory exists and is not empty (use --force to replace a run)",
                                     str(path))
                if not (path / schema.META_FILE).is_file():
                    raise TraceError("refusing to replace a non-empty directory that is not a run directory",
                                     str(path))
                for entry in entries:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise TraceError(f"cannot write the output directory: {e.strerror or e}", str(path)) from None
        return cls(path, {})

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Atomically: a reader sees the old meta or the new one, never half of one. Not fsynced,
        like the event parts: a killed recorder loses nothing the kernel has, a power cut may."""
        self.meta = meta
        tmp = self.path / (schema.META_FILE + ".tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(meta, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path / schema.META_FILE)
        except OSError as e:
            raise TraceError(f"cannot write meta.json: {e.strerror or e}", str(self.path)) from None

    def write_table(self, name: str, table_schema: pa.Schema, rows: dict[str, list]) -> None:
        table = pa.table(rows, schema=table_schema)
        try:
            pq.write_table(table, self.path / name)
        except OSError as e:
            raise TraceError(f"cannot write {name}: {e}", str(self.path)) from None

    # ------------------------------------------------------------------ reading

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Check that `path` is a run directory (meta.json and events/) and read its meta."""
        path = Path(path)
        if not path.exists():
            raise TraceError("no such run directory", str(path))
        if not path.is_dir():
            raise TraceError("not a run directory (a file, not a directory)", str(path))
        meta_path = path / schema.META_FILE
        if not meta_path.is_file():
            raise TraceError("not a run directory (no meta.json)", str(path))
        try:
            meta = json.loads(meta_path.read_bytes())
        except OSError as e:
            raise TraceError(f"unreadable meta.json: {e.strerror or e}", str(path)) from None
        except (ValueError, UnicodeDecodeError) as e:
            raise TraceError(f"meta.json is not valid JSON ({e})", str(path)) from None
        if not (path / schema.EVENTS_DIR).is_dir():
            raise TraceError("not a run directory (no events/ folder)", str(path))
        if not isinstance(meta, dict) or "seed" not in meta or "scenario" not in meta:
            raise TraceError("meta.json is not a revtrace run's", str(path))
        version = meta.get("schema_version")
        if isinstance(version, int) and version < schema.OLDEST_READABLE:
            lacks = "access modes" if version < 2 else "tso stores' issuing cycle" if version < 4 else "columns"
            raise TraceError(f"recorded with schema version {version}, before {lacks} were recorded; "
                             f"record the run again to read it (this revtrace reads versions "
                             f"{schema.OLDEST_READABLE}..{schema.SCHEMA_VERSION})", str(path))
        return cls(path, meta)

    @property
    def events_dir(self) -> Path:
        return self.path / schema.EVENTS_DIR

    def event_parts(self) -> list[Path]:
        return part_files(self.events_dir)

    def reader(self, strict: bool = False) -> pa.RecordBatchReader:
        """The events in seq order as a RecordBatchReader (streams part after part, little memory)."""
        def batches():
            for p in self.event_parts():
                try:
                    yield from read_part(p, strict=True)
                except DamagedPart:
                    if strict:
                        raise
                    return  # stop at the first damage: the events after it would leave a gap in seq
        return pa.RecordBatchReader.from_batches(schema.EVENTS, batches())

    def events(self, strict: bool = False) -> pa.Table:
        """All events as one pyarrow Table. A damaged tail is skipped unless `strict`."""
        return self.reader(strict).read_all()

    def events_between(self, first: int, last: int) -> pa.Table:
        """Events with first <= seq <= last, reading only the batches that hold them."""
        picked = []
        for batch in self.reader():
            seqs = batch.column(0)
            if not len(seqs):
                continue
            lo, hi = seqs[0].as_py(), seqs[-1].as_py()
            if hi < first:
                continue
            if lo > last:
                break
            picked.append(batch.slice(max(0, first - lo), min(hi, last) - max(lo, first) + 1))
        return pa.Table.from_batches(picked, schema.EVENTS)

    def check_events(self) -> tuple[int, list[DamagedPart]]:
        """(readable rows, damaged parts): for reporting a truncated or corrupted recording."""
        rows, damaged = 0, []
        for p in self.event_parts():
            try:
                for batch in read_part(p, strict=True):
                    rows += batch.num_rows  # the damaged part's readable batches count here
            except DamagedPart as d:
                damaged.append(d)
        return rows, damaged

    def vclocks(self) -> pa.Table:
        def batches():
            for p in part_files(self.path / schema.VCLOCKS_DIR):
                yield from read_part(p)
        return pa.RecordBatchReader.from_batches(schema.VCLOCKS, batches()).read_all()

    def table(self, name: str) -> pa.Table:
        try:
            return pq.read_table(self.path / name)
        except (OSError, pa.ArrowException) as e:
            raise TraceError(f"cannot read {name}: {e}", str(self.path)) from None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, outcome={self.meta.get('outcome')!r}, events={self.meta.get('events')})"
