"""Parquet exports opened for SQL: `open_exports(paths)` gives what `revtrace sql` asks over a run
directory, over one export or many at once.

One export: its tables and views under the names a run's SQL uses (events, accesses, vclocks,
the dimension and catalogue tables over its Parquet files, queries/sql/parquet_tables.sql; the
named views, events_named, writes, bit_changes, sync_edges ..., exactly as queries/sql/views.sql
defines them for a run), so a query written for the run answers the same. Not there:
export_layout.UNAVAILABLE (the run's query index), and a query naming one fails with one line
saying why.

Many exports (several folders, or a folder of exports such as `revtrace export KEEP -o OUT`
writes for a sweep's kept recordings): each export's tables and views are made as above in a
schema of its own, so every join inside a view stays within one run (thread, site and machine ids
are per run), and each name is then the union of the runs' rows with a `run` column first (the
export's folder name; its path as given when two names collide). `runs` lists them with their
scenario, variant, seed and outcome.

The connection is DuckDB in memory: it reads the exports' files and writes nothing anywhere.
Before user SQL runs, the file system is closed to everything but the exports' folders and the
configuration locked (queries/readonly.py); user SQL is one reading statement. A file that is
missing, truncated or of another size than the export wrote, an export of another format, or
exports of mixed formats are refused with one line naming the path.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import duckdb
import pyarrow as pa

from tracer import schema as S

from . import export_layout as L
from .errors import QueryError, first_line
from .readonly import DEFAULT_TIMEOUT, QueryTimeout, check_statement, lock_down, run_with_timeout
from .sqlfiles import load_sql

VIEW_RE = re.compile(r"(?mi)^(?=CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s)")
VIEW_NAME_RE = re.compile(r"(?i)CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)")
MISSING_RE = re.compile(r"Table with name (\w+) does not exist")
# words of DuckDB's messages about data it could not decode (then every file is read to find it)
DATA_HINTS = ("decompress", "thrift", "corrupt", "parquet", "magic", "io error", "serializ", "page", "offset",
              "too small", "checksum", "decod")
# DuckDB's errors that are the query's own fault (any other may be a damaged file)
USER_ERRORS = ("Catalog Error", "Binder Error", "Parser Error", "Conversion Error", "Out of Range Error",
               "Not implemented Error", "Permission Error", "Interrupt", "Constraint Error", "Dependency Error")


@dataclass
class Export:
    """One export folder, as found: its name in the `run` column, its folder and its marker."""

    name: str
    path: Path
    given: str
    marker: dict = field(repr=False)
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.marker.get("warnings") or []]


# ------------------------------------------------------------------------------------------------
# finding the exports


def classify(path: str | os.PathLike) -> str:
    """'export' (an export or a folder of exports), 'run' (a run directory) or 'missing' /
    'neither'."""
    p = Path(path)
    if not p.is_dir():
        return "missing"
    try:
        if L.read_marker(p) is not None:
            return "export"
    except L.LayoutError:
        return "export"  # a damaged marker: open_exports says what is wrong with it
    if (p / S.META_FILE).is_file():
        return "run"
    if _child_exports(p):
        return "export"
    return "neither"


def find_exports(paths: list[str | os.PathLike]) -> list[Export]:
    """The exports the paths name, each checked (LayoutError otherwise), named for the `run`
    column."""
    found: list[tuple[Path, str, dict]] = []  # (folder, as given, marker)
    for given in _globbed(paths):
        p = Path(given)
        kind = classify(p)
        if kind == "missing":
            raise L.LayoutError("no such run directory or export", str(given))
        if kind == "run":
            raise L.LayoutError("a run directory, not a Parquet export: query several runs at once through "
                                "their exports (revtrace export RUN -o DIR)", str(given))
        if kind == "neither":
            raise L.LayoutError(f"neither a run directory (no {S.META_FILE}) nor a Parquet export (no "
                                f"{L.MARKER}), nor a folder of exports", str(given))
        inside = _expand(p, str(given))
        if not inside:
            raise L.LayoutError("a folder of exports that holds none", str(given))
        found.extend(inside)
    formats = {L.format_of(marker): given for _, given, marker in found}
    if len(formats) > 1:  # say so, rather than only that one of them is old (or new)
        odd = min((v, g) for v, g in formats.items() if v != L.EXPORT_FORMAT)
        other = next(g for v, g in formats.items() if v != odd[0])
        raise L.LayoutError(f"mixed export formats: this one is format {odd[0]}, {other} is format "
                            f"{next(v for v, g in formats.items() if g == other)}; this revtrace reads format "
                            f"{L.EXPORT_FORMAT}: export the run again (revtrace export RUN -o DIR --force)", odd[1])
    exports = [_checked(folder, given, marker) for folder, given, marker in found]
    _check_same_formats(exports)
    _name(exports)
    return exports


def _globbed(paths: list[str | os.PathLike]) -> list[str]:
    """The paths, a quoted glob (`'runs/*-parquet'`, which no shell expanded) replaced by its
    matches in natural order."""
    out: list[str] = []
    for given in paths:
        text = str(given)
        if not os.path.exists(text) and any(c in text for c in "*?["):
            matches = sorted(glob.glob(text), key=L.natural_key)
            if not matches:
                raise L.LayoutError("matches no run directory or export", text)
            out.extend(matches)
        else:
            out.append(text)
    return out


def _expand(folder: Path, given: str, depth: int = 0) -> list[tuple[Path, str, dict]]:
    """(folder, as given, marker) of the export at `folder`, or of every export in a folder of
    exports: the runs its marker lists (export_parquet_runs wrote it), or, without a marker, its
    subfolders that are exports (or folders of exports)."""
    marker = L.read_marker(folder)
    if marker is not None and L.kind_of(marker) == L.KIND_RUN:
        return [(folder, given, marker)]
    if depth > 1:
        return []
    if marker is not None:
        names = marker.get("runs")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise L.LayoutError(f"{L.MARKER} does not list its runs", given)
        _check_format(marker, folder)
        for name in names:
            if L.read_marker(folder / name) is None:
                raise L.LayoutError("missing: the folder of exports lists it", str(folder / name))
        children = [folder / name for name in names]
    else:
        children = _child_exports(folder)
    return [found for child in children for found in _expand(child, str(child), depth + 1)]


def _child_exports(folder: Path) -> list[Path]:
    try:
        children = [c for c in folder.iterdir() if c.is_dir() and (c / L.MARKER).is_file()]
    except OSError:
        return []
    return sorted(children, key=lambda c: L.natural_key(c.name))


def _check_format(marker: dict, folder: Path) -> None:
    version = L.format_of(marker)
    if version != L.EXPORT_FORMAT:
        raise L.LayoutError(f"export format {version}, but this revtrace reads format {L.EXPORT_FORMAT}: export "
                            "the run again (revtrace export RUN -o DIR --force)", str(folder))


def _checked(folder: Path, given: str, marker: dict) -> Export:
    """The export, once its files are all there at the sizes it wrote them."""
    _check_format(marker, folder)
    files = marker.get("files")
    if not isinstance(files, dict):
        raise L.LayoutError(f"{L.MARKER} does not list the export's files", given)
    tables = {rel.split("/", 1)[0] for rel in files}
    for table in ("events", *L.TABLES):
        if table not in tables:
            raise L.LayoutError(f"the export has no table {table} ({L.MARKER} lists no file of it)", given)
    for rel, size in sorted(files.items()):
        path = folder / rel
        try:
            actual = path.stat().st_size
        except OSError:
            table = rel.split("/", 1)[0]
            raise L.LayoutError(f"missing: a file of the export's table {table}", str(path)) from None
        if actual != size:
            raise L.LayoutError(f"truncated or changed: {actual:,} bytes, the export wrote {size:,}", str(path))
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise L.LayoutError(f"the export's meta.json is unreadable ({err})", given) from None
    name = folder.name if folder.name not in ("", ".", "..") else folder.resolve().name
    return Export(name, folder, given, marker, meta if isinstance(meta, dict) else {})


def _check_same_formats(exports: list[Export]) -> None:
    """Exports of one recording schema only: their tables become one."""
    first = exports[0]
    for e in exports[1:]:
        if e.marker.get("schema_version") != first.marker.get("schema_version"):
            raise L.LayoutError(f"mixed export formats: recorded with event schema version "
                                f"{e.marker.get('schema_version')}, but {first.given} with "
                                f"{first.marker.get('schema_version')}", e.given)


def _name(exports: list[Export]) -> None:
    """Each export's `run`: its folder's name, or its path as given where two names collide."""
    seen: dict[str, int] = {}
    for e in exports:
        seen[e.name] = seen.get(e.name, 0) + 1
    for e in exports:
        if seen[e.name] > 1:
            e.name = e.given
    paths: dict[Path, str] = {}
    for e in exports:
        real = e.path.resolve()
        if real in paths:
            raise L.LayoutError(f"given twice (also as {paths[real]})", e.given)
        paths[real] = e.given


# ------------------------------------------------------------------------------------------------
# the connection


def open_exports(paths: list[str | os.PathLike]) -> Exported:
    try:
        return Exported(find_exports(paths))
    except L.LayoutError as err:
        raise QueryError(err.message, err.location) from None


class Exported:
    """One export, or several as one set of tables with a `run` column; `sql` as Run.sql."""

    def __init__(self, exports: list[Export]):
        self.exports = exports
        self.many = len(exports) > 1
        self.location = exports[0].given if not self.many else ", ".join(e.given for e in exports)
        self.unavailable: dict[str, str] = dict(L.UNAVAILABLE)
        self.con = duckdb.connect(":memory:")
        try:
            self.con.execute("SET temp_directory = ?", [_temp_directory()])
            # every view that reads a table binds its files again: their footers are read once
            self.con.execute("SET parquet_metadata_cache = true")
            if self.many:
                for i, e in enumerate(exports):
                    self.con.execute(f"CREATE SCHEMA r{i}")
                    self.con.execute(f"USE memory.r{i}")
                    self._create(e)
                self.con.execute("USE memory.main")
                self._union()
            else:
                self._create(exports[0])
            self.con.register("runs", self._runs_table())
            dirs = [str(e.path.resolve()) + os.sep for e in exports]
            self.con.execute("SET allowed_directories = ?", [dirs])
            lock_down(self.con)
        except duckdb.Error as err:
            error = self._error(err)
            self.con.close()
            raise error from None
        except BaseException:
            self.con.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def warnings(self) -> list[str]:
        """What the exports' recordings lacked when exported (their intact prefix was exported)."""
        if not self.many:
            return self.exports[0].warnings
        return [f"{e.name}: {w}" for e in self.exports for w in e.warnings]

    @property
    def notices(self) -> list[str]:
        return []

    @property
    def names(self) -> list[str]:
        """The table and view names a query can use."""
        rows = self.con.execute("SELECT DISTINCT table_name FROM information_schema.tables "
                                "WHERE table_schema = 'main' ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def sql(self, text: str, params: dict | list | None = None,
            timeout: float | None = DEFAULT_TIMEOUT) -> pa.Table:
        """One read-only SQL statement over the tables and views (see the module's docstring)."""
        try:
            return run_with_timeout(self.con, check_statement(text), params, timeout)
        except QueryTimeout:
            raise
        except QueryError as err:
            raise self._error(err) from None

    def sql_each(self, text: str, params: dict | list | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT) -> pa.Table:
        """The statement asked of each export on its own (its tables under their plain names, as
        for one export: a named query, which knows nothing of `run`, answers per run), the
        answers one after the other with `run` first. `timeout` covers them all."""
        text = check_statement(text)
        deadline = None if timeout is None else time.monotonic() + timeout
        answers = []
        try:
            for i, e in enumerate(self.exports):
                self.con.execute(f"USE memory.r{i}" if self.many else "USE memory.main")
                left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
                try:
                    table = run_with_timeout(self.con, text, params, left)
                except QueryTimeout:
                    raise QueryTimeout(f"the queries ran longer than {timeout:g} s and were interrupted "
                                       f"(at {e.name}; --timeout sets the limit)") from None
                except QueryError as err:
                    raise self._error(err, e) from None
                answers.append(table.add_column(0, "run", pa.array([e.name] * table.num_rows, pa.string())))
        finally:
            self.con.execute("USE memory.main")
        return pa.concat_tables(answers, promote_options="permissive")

    # -- building ----------------------------------------------------------------------------------
    def _create(self, e: Export) -> None:
        """The export's tables and views in the current schema."""
        files: dict[str, list[str]] = {}
        for rel in sorted(e.marker["files"], key=L.natural_key):
            files.setdefault(rel.split("/", 1)[0], []).append(str((e.path / rel).resolve()))
        text = load_sql("parquet_tables").replace("{machine_id}", _machine_id(e))
        for table in ("events", *L.TABLES):
            text = text.replace("{" + table + "}", _list(files.get(table, [])))
        self.con.execute(text)
        have = set(self._local_names())
        for statement in VIEW_RE.split(load_sql("views")):
            m = VIEW_NAME_RE.search(statement)
            if m is None or m.group(1) in have or m.group(1).startswith("_"):
                continue  # the run's bulk tables and their typed views: made above from Parquet
            try:
                self.con.execute(statement)
            except duckdb.CatalogException as err:  # it needs something only a run's index has
                self.unavailable.setdefault(m.group(1), f"it needs what only a run's query index has "
                                                        f"({first_line(err)})")

    def _local_names(self) -> list[str]:
        schema = self.con.execute("SELECT current_schema()").fetchone()[0]
        return [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]

    def _union(self) -> None:
        """Each name as the union of every run's rows, with `run` first."""
        per_run = [set(self._names_in(f"r{i}")) for i in range(len(self.exports))]
        for name in sorted(set.intersection(*per_run)):
            parts = [f"SELECT {_literal(e.name)} AS run, * FROM r{i}.{name}" for i, e in enumerate(self.exports)]
            self.con.execute(f"CREATE VIEW main.{name} AS " + "\nUNION ALL BY NAME\n".join(parts))

    def _names_in(self, schema: str) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]

    def _runs_table(self) -> pa.Table:
        """`runs`: one row per export, from its meta.json and export.json."""
        columns: dict[str, list] = {name: [] for name in RUNS_SCHEMA.names}
        for e in self.exports:
            options = e.meta.get("options") if isinstance(e.meta.get("options"), dict) else {}
            row = {"run": e.name, "export": str(e.path), "recording": e.marker.get("run"),
                   "scenario": e.meta.get("scenario_name"), "variant": e.meta.get("variant"),
                   "seed": e.meta.get("seed"), "cores": options.get("cores"), "sched": options.get("sched"),
                   "outcome": e.meta.get("outcome"), "events": e.marker.get("events")}
            for f in RUNS_SCHEMA:
                columns[f.name].append(_value(row[f.name], f.type))
        return pa.table(columns, schema=RUNS_SCHEMA)

    # -- errors --------------------------------------------------------------------------------------
    def _error(self, err: BaseException, export: Export | None = None) -> QueryError:
        """DuckDB's complaint as one line: an unavailable table named with why, a damaged file
        with its path (`export`: the one being asked, if only one was)."""
        message = err.message if isinstance(err, QueryError) else first_line(err)
        location = self.location if export is None else export.given
        missing = MISSING_RE.search(message)
        if missing and missing.group(1) in self.unavailable:
            name = missing.group(1)
            return QueryError(f"{name} is not in a Parquet export: {self.unavailable[name]}", location)
        if not message.startswith(USER_ERRORS):  # perhaps a file is damaged: which one?
            damaged = self._damaged_file(whole=any(hint in message.lower() for hint in DATA_HINTS))
            if damaged is not None:
                return QueryError(f"damaged Parquet file ({damaged[1]})", damaged[0])
        return QueryError(message, location)

    def _damaged_file(self, whole: bool) -> tuple[str, str] | None:
        """The first file of the exports that pyarrow cannot read, and why: footers (cheap), then,
        if `whole` (DuckDB's message spoke of the data), whole files."""
        import pyarrow.parquet as pq

        files = [e.path / rel for e in self.exports for rel in sorted(e.marker["files"], key=L.natural_key)]
        for read in (pq.read_metadata, pq.read_table) if whole else (pq.read_metadata,):
            for f in files:
                try:
                    read(f)
                except (OSError, pa.ArrowException) as err:
                    return str(f), first_line(err)
        return None


RUNS_SCHEMA = pa.schema([("run", pa.string()), ("export", pa.string()), ("recording", pa.string()),
                         ("scenario", pa.string()), ("variant", pa.string()), ("seed", pa.uint64()),
                         ("cores", pa.int32()), ("sched", pa.string()), ("outcome", pa.string()),
                         ("events", pa.int64())])
INT_RANGES = {pa.uint64(): (0, 2**64 - 1), pa.int32(): (0, 2**31 - 1), pa.int64(): (0, 2**63 - 1)}


def _value(v, type_: pa.DataType):
    """A meta.json value as the column's type, or NULL (a file written by hand may hold anything)."""
    if type_ == pa.string():
        return None if v is None else str(v)
    lo, hi = INT_RANGES[type_]
    return v if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi else None


def _machine_id(e: Export) -> str:
    """CASE machine WHEN 'client' THEN 0 ... END: the partition's name as the recording's id."""
    names = e.meta.get("machines") if isinstance(e.meta.get("machines"), list) else []
    if not names:
        return "NULL"
    cases = " ".join(f"WHEN {_literal(str(n))} THEN {i}" for i, n in enumerate(names))
    return f"CASE machine {cases} END"


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _temp_directory() -> str:
    """Where DuckDB may spill: never the current directory (it could be an export)."""
    return str(Path(tempfile.gettempdir()) / f"revtrace-duckdb-{os.getpid()}")
