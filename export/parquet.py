"""A recording as Parquet: Hive-partitioned tables that DuckDB, Spark, Trino, Polars and
pyarrow.dataset read as they are.

    OUT/events/machine=<name>/part-N.parquet     every event (the recording's columns, machine as
                                                 the partition key, kind as text)
    OUT/accesses/machine=<name>/part-N.parquet   the reads, writes and rmws among them
    OUT/vclocks/part-0.parquet                   the vector clocks (as recorded)
    OUT/{symbols,bits,sites,threads,machines,words}/part-0.parquet   the dimension tables
    OUT/{ports,schedule,checkpoints,meta,stacks,frame_words,frame_sites,frames,stack_names}/part-0.parquet
                                                 the rest of what a run's SQL sees, copied from
                                                 the run's query catalogue (queries/README.md)
    OUT/meta.json, OUT/README.md, OUT/export.json (the marker, last: queries/export_layout.py)

`revtrace sql OUT ...` reads it back with the run's table and view names (queries/exported.py);
`export_parquet_runs` writes a folder of runs (a sweep's kept recordings) as a folder of exports
that `revtrace sql` reads as one set of tables with a `run` column.

Everything is streamed from the run's Arrow parts (never the whole run in memory): each machine's
rows are buffered up to ROW_GROUP_ROWS and written as one zstd row group, and a partition's file
is closed and the next one begun every PART_ROWS rows. Only the intact prefix of a damaged
recording is exported, and the result says so (`warnings`).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from queries import export_layout as L
from queries.errors import QueryError, QueryWarning
from queries.index import words_table
from queries.rundir import RunDir as QueryRunDir
from tracer import schema as S
from tracer.errors import TraceError
from tracer.run_dir import RunDir

from .errors import ExportError

ROW_GROUP_ROWS = 1 << 20
PART_ROWS = 16 << 20
COMPRESSION = "zstd"
ACCESS_KINDS = ("read", "write", "rmw")
MARKER = L.MARKER  # what says a folder is an export (and may be replaced with --force)
DIMENSIONS = L.DIMENSIONS


def export_parquet(run: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write `run` as Parquet tables under `out`; a summary (tables, rows, files, warnings)."""
    rd = open_run_dir(run)
    out = prepare_folder(Path(out), force)
    machines = [str(m) for m in rd.meta.get("machines") or []]
    warnings: list[str] = []
    events = _Partitioned(out / "events", "machine")
    accesses = _Partitioned(out / "accesses", "machine")
    kind_codes = np.array([S.KIND_NAMES.index(k) for k in ACCESS_KINDS], dtype=np.int8)
    rows = 0
    try:
        for batch in rd.reader():
            rows += batch.num_rows
            machine = batch.column("machine").to_numpy()
            is_access = np.isin(batch.column("kind").indices.to_numpy(zero_copy_only=False), kind_codes)
            table = _portable(batch)
            present = np.unique(machine).tolist()
            for m in present:
                name = machines[m] if 0 <= m < len(machines) else str(m)
                mine = machine == m
                events.add(name, table if len(present) == 1 else table.filter(pa.array(mine)))
                acc = mine & is_access
                n_acc = int(np.count_nonzero(acc))
                if n_acc:
                    accs = table if n_acc == len(acc) else table.filter(pa.array(acc))
                    accesses.add(name, accs.drop_columns(["sync"]))
        events.close()
        accesses.close()
        vclocks = rd.vclocks()
        _write(out / "vclocks" / "part-0.parquet", vclocks)
        dims = _dimension_tables(rd, machines)
        dims.update(_catalogue_tables(rd))
        for name, table in dims.items():
            _write(out / name / "part-0.parquet", table)
    except (OSError, pa.ArrowException) as e:
        raise ExportError(f"cannot write the export: {e}", str(out)) from None
    except TraceError as e:
        raise ExportError(e.message, e.location) from None
    recorded = rd.meta.get("events")
    if isinstance(recorded, int) and rows < recorded:
        warnings.append(f"the recording is damaged or incomplete: exported its intact prefix, {rows:,} of "
                        f"{recorded:,} events")
    summary = {
        "run": str(rd.path), "out": str(out), "format": "parquet", "kind": L.KIND_RUN,
        "export_format": L.EXPORT_FORMAT, "schema_version": S.SCHEMA_VERSION, "events": rows,
        "tables": {"events": events.rows, "accesses": accesses.rows, "vclocks": vclocks.num_rows,
                   **{name: t.num_rows for name, t in dims.items()}},
        "partitions": {"events": sorted(events.files), "accesses": sorted(accesses.files)},
        "warnings": warnings,
    }
    shutil.copyfile(rd.path / S.META_FILE, out / "meta.json")
    (out / "README.md").write_text(readme(rd, summary))
    # the size of every table file, so that a reader tells a truncated or missing one by its path
    summary["files"] = {p.relative_to(out).as_posix(): p.stat().st_size
                        for p in sorted(out.rglob("*.parquet"))}
    (out / MARKER).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def export_parquet_runs(folder: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write every run directory directly under `folder` (a sweep's `--keep` folder) as an export
    in out/<run name>/, and a marker that makes `out` one set of tables to `revtrace sql`."""
    folder = Path(folder)
    runs = run_folders(folder)
    if not runs:
        raise ExportError("no run directories in it (a folder of runs holds one per subfolder, "
                          "each with its meta.json)", str(folder))
    out = prepare_folder(Path(out), force)
    summaries = [export_parquet(run, out / run.name) for run in runs]
    summary = {
        "runs_of": str(folder), "out": str(out), "format": "parquet", "kind": L.KIND_RUNS,
        "export_format": L.EXPORT_FORMAT, "runs": [run.name for run in runs],
        "events": sum(s["events"] for s in summaries),
        "warnings": [f"{run.name}: {w}" for run, s in zip(runs, summaries) for w in s["warnings"]],
    }
    (out / MARKER).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    summary["exports"] = summaries
    return summary


def is_folder_of_runs(path: str | Path) -> bool:
    """A folder that is no run directory itself but holds some (a sweep's --keep folder)."""
    path = Path(path)
    return path.is_dir() and not (path / S.META_FILE).exists() and bool(run_folders(path))


def run_folders(folder: Path) -> list[Path]:
    """The run directories directly under `folder`, in natural order (seed-5 before seed-24)."""
    try:
        children = [p for p in folder.iterdir() if p.is_dir() and (p / S.META_FILE).is_file()]
    except OSError as e:
        raise ExportError(f"cannot list it: {e.strerror or e}", str(folder)) from None
    return sorted(children, key=lambda p: L.natural_key(p.name))


def open_run_dir(run: str | Path) -> RunDir:
    try:
        return RunDir.open(run)
    except TraceError as e:
        raise ExportError(e.message, e.location) from None


def prepare_folder(out: Path, force: bool) -> Path:
    """An empty folder to write into; an earlier export is replaced only with `force`."""
    if out.exists():
        if not out.is_dir():
            raise ExportError("exists and is not a directory", str(out))
        if any(out.iterdir()):
            if not force:
                raise ExportError("output directory exists and is not empty (use --force to replace an export)",
                                  str(out))
            if not (out / MARKER).is_file():
                raise ExportError("refusing to replace a non-empty directory that is not an export", str(out))
            shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the output directory: {e.strerror or e}", str(out)) from None
    return out


def _portable(batch: pa.RecordBatch) -> pa.Table:
    """The batch without `machine` (the partition key) and with `kind` as text."""
    table = pa.Table.from_batches([batch])
    kind = table.column("kind").cast(pa.string())
    table = table.set_column(table.schema.get_field_index("kind"), pa.field("kind", pa.string(), False), kind)
    return table.drop_columns(["machine"])


class _Partitioned:
    """One Hive-partitioned table: a ParquetWriter per partition value, rows buffered into row
    groups of ROW_GROUP_ROWS, a new part file every PART_ROWS rows."""

    def __init__(self, folder: Path, key: str):
        self.folder = folder
        self.key = key
        self.pending: dict[str, list[pa.Table]] = {}
        self.pending_rows: dict[str, int] = {}
        self.writers: dict[str, tuple[pq.ParquetWriter, int]] = {}  # value -> (writer, its rows)
        self.parts: dict[str, int] = {}
        self.files: list[str] = []
        self.rows = 0
        self.schema: pa.Schema | None = None
        self.worker = ThreadPoolExecutor(max_workers=1)
        self.done: list = []

    def add(self, value: str, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
        self.pending.setdefault(value, []).append(table)
        self.pending_rows[value] = self.pending_rows.get(value, 0) + table.num_rows
        if self.pending_rows[value] >= ROW_GROUP_ROWS:
            self._flush(value)

    def _flush(self, value: str) -> None:
        tables = self.pending.pop(value, [])
        self.pending_rows.pop(value, None)
        if not tables:
            return
        table = pa.concat_tables(tables)
        self.rows += table.num_rows
        # encoded on this table's own thread (Parquet's encoders release the GIL): the next
        # batches are read and filtered meanwhile, and events and accesses encode side by side
        self.done.append(self.worker.submit(self._write, value, table))
        if len(self.done) > 2:
            self.done.pop(0).result()

    def _write(self, value: str, table: pa.Table) -> None:
        writer, written = self.writers.get(value, (None, 0))
        if writer is None or written >= PART_ROWS:
            if writer is not None:
                writer.close()
            part = self.parts.get(value, -1) + 1
            self.parts[value] = part
            path = self.folder / f"{self.key}={quote(value, safe='')}" / f"part-{part}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(str(path), table.schema, **encoding(table.schema))
            self.files.append(str(path.relative_to(self.folder.parent)))
            written = 0
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.writers[value] = (writer, written + table.num_rows)

    def close(self) -> None:
        try:
            for value in list(self.pending):
                self._flush(value)
            for job in self.done:
                job.result()
        finally:
            self.worker.shutdown(wait=True)
            for writer, _ in self.writers.values():
                writer.close()
            self.writers = {}


def encoding(schema: pa.Schema) -> dict:
    """ParquetWriter options: zstd; integers delta-encoded (seq and cycle ascend, the rest are
    small or repeat), only text dictionary-encoded (a dictionary attempt on 10M distinct integers
    costs more than it saves)."""
    ints = [f.name for f in schema if pa.types.is_integer(f.type)]
    texts = [f.name for f in schema if pa.types.is_string(f.type)]
    return {"compression": COMPRESSION, "use_dictionary": texts,
            "column_encoding": {name: "DELTA_BINARY_PACKED" for name in ints}}


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path), **encoding(table.schema))


def _dimension_tables(rd: RunDir, machines: list[str]) -> dict[str, pa.Table]:
    qrd = QueryRunDir(rd.path)
    out = {}
    try:
        for name in ("symbols", "bits", "sites", "threads"):
            out[name], _ = qrd.read_side_table(name)
    except QueryError as e:
        raise ExportError(e.message, e.location) from None
    cores = qrd.cores
    out["machines"] = pa.table({
        "machine": pa.array(range(len(machines)), pa.int16()), "name": pa.array(machines, pa.string()),
        "cores": pa.array([cores.get(m, 0) for m in machines], pa.int32())})
    out["words"] = words_table(out["symbols"])
    return out


def _catalogue_tables(rd: RunDir) -> dict[str, pa.Table]:
    """The rest of what a run's SQL sees (ports, schedule, checkpoints, meta, the C stack tables),
    read through the run's public tables, so that the export answers as the run does."""
    import warnings

    from queries import open_run

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QueryWarning)  # export_parquet says what was left out
            with open_run(rd.path, progress=False) as run:
                return {name: run.sql(f"SELECT * FROM {name} ORDER BY ALL", timeout=None)
                        for name in L.CATALOGUE}
    except QueryError as e:
        raise ExportError(e.message, e.location) from None


def readme(rd: RunDir, summary: dict) -> str:
    t = summary["tables"]
    m = rd.meta
    return f"""# revtrace export of {m.get('scenario_name', rd.path.name)}

Recorded run: `{rd.path}` (variant {m.get('variant')}, seed {m.get('seed')}, outcome {m.get('outcome')},
{summary['events']:,} events). Parquet with zstd; `events` and `accesses` are partitioned Hive-style by
machine name (`events/machine=<name>/part-N.parquet`). `meta.json` is the recording's own.

| table | rows | what |
|---|---:|---|
| events | {t['events']:,} | every event: `seq` (global order, dense from 0), `cycle`, `machine` (the partition: the machine's name), `core`, `thread` (threads.thread), `site` (sites.site, -1 for none), `kind` (read, write, rmw, acquire, release, fence, send, recv, spawn, wake, switch, panic, sleep, exit), `addr` (word address, port for send/recv, -1), `old`/`new` (the word before/after; `new` is the value read), `clock` (the thread's vector-clock epoch), `sync` (lock address, message id or thread id, -1), `atomic`, and any later columns of the recording |
| accesses | {t['accesses']:,} | the reads, writes and rmws among events (no `sync`) |
| vclocks | {t['vclocks']:,} | `thread`'s full vector clock when it changed at event `seq`: one row per `of_thread` with its `value`; a happens-before b (other threads) iff a.clock <= value where thread = b.thread, clock = b.clock, of_thread = a.thread |
| symbols | {t['symbols']:,} | named data: `addr`, `name`, `object`, `field`, `size` (words), `machine`, `initial` |
| words | {t['words']:,} | one row per word a symbol covers, with its canonical name (`page0.flags`, `buf[3]`) |
| bits | {t['bits']:,} | named bits: `name` (PG_dirty), `bit` |
| sites | {t['sites']:,} | instruction sites: `site`, `machine`, `pc`, `file`, `line`, `col`, `function`, `label`, `text` |
| threads | {t['threads']:,} | `thread`, `name`, `machine`, `kind` (kernel or user), `entry` |
| machines | {t['machines']:,} | `machine` (the id in the recording), `name`, `cores` |
| ports | {t['ports']:,} | message ports: `port` (a send's or recv's addr), `name` |
| schedule | {t['schedule']:,} | who ran where: maximal runs of consecutive events of one thread on one core: `machine`, `machine_id`, `core`, `thread`, `thread_id`, `start_seq`, `end_seq`, `start_cycle`, `end_cycle`, `events` |
| checkpoints | {t['checkpoints']:,} | the recording's checkpoints: `seq`, `cycle`, `instructions`, `file` (in the run directory) |
| meta | {t['meta']:,} | meta.json, one row per key: `key`, `value` (JSON text) |
| stacks, frame_words, frame_sites, frames, stack_names | {t['stacks']:,}, {t['frame_words']:,}, {t['frame_sites']:,}, {t['frames']:,}, {t['stack_names']:,} | C stack frames: each thread's stack region; every word of each C function's frame; the instructions that access their own frame; every frame entered and left; the name of each access through a pointer into a live frame (`seq`, `name`: `THREAD:FUNCTION.LOCAL`) |

The same tables and views as `revtrace sql` on the recorded run (events_named, writes, bit_changes,
sync_edges, ...), and the same named queries (queries/sql/ of revtrace, `--param NAME=VALUE` for
their parameters), except `word_offsets` and `index_info`, which describe the run's query index:

```sh
revtrace sql {summary['out']} "SELECT seq, symbol, thread, function FROM writes ORDER BY seq LIMIT 10"
revtrace sql {summary['out']} races.sql
```

For example, with DuckDB:

```sql
SELECT e.seq, e.machine, t.name AS thread, w.name AS symbol, e.old, e.new
FROM read_parquet('events/*/*.parquet', hive_partitioning = true) e
JOIN read_parquet('threads/*.parquet') t USING (thread)
JOIN read_parquet('words/*.parquet') w ON w.addr = e.addr
WHERE e.kind IN ('write', 'rmw') ORDER BY e.seq;
```

or `pyarrow.dataset.dataset('events', partitioning='hive')`, `polars.scan_parquet('events/**/*.parquet',
hive_partitioning=True)`, Spark's `spark.read.parquet('events')`.
"""
