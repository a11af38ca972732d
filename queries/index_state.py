"""What a run's query index is (see queries/index.py): its files, its tables, the state of one
build, and connections to its catalogue (index.duckdb) with the bulk tables registered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracer import schema as S

from . import columns as C

INDEX_FILE = "index.duckdb"
DATA_DIR = "index"
INDEX_FORMAT = 15  # bump whenever the index layout (or a view in views.sql) changes (12: issued as issued_rel; 13: C stack frames; 14: sync_edges with the kernel's edges; 15: split and look-up columns)
KIND = {name: i for i, name in enumerate(S.KIND_NAMES)}
assert (KIND["read"], KIND["write"], KIND["rmw"]) == (0, 1, 2)  # `code <= 2` means an access

ACCESS_SCHEMA = pa.schema([S.EVENTS.field(n) for n in
                           ("addr", "seq", "cycle", "machine", "core", "thread", "site", "kind",
                            "old", "new", "clock", "atomic", "mode", "issued")])
ACCESS_COLUMNS = ACCESS_SCHEMA.names
TABLES = {"accesses": ACCESS_SCHEMA, "other_events": S.EVENTS, "vclocks": S.VCLOCKS}
# the names the bulk tables are registered under (each is a view over its registered table that
# widens the columns stored narrower: see views.sql)
REGISTERED = {"accesses": "_accesses", "other_events": "_other_events", "vclocks": "_vclocks"}
FILE_PREFIX = {"accesses": "accesses", "other_events": "other", "vclocks": "vclocks"}


@dataclass
class IndexState:
    path: Path  # index.duckdb
    events: int
    layouts: dict[str, C.Layout]  # accesses, other_events, vclocks
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # why a damaged index was rebuilt
    built: bool = False  # True when this call (re)built it
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    max_seq: int = -1
    con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)  # catalogue, read-only

    def take_connection(self) -> duckdb.DuckDBPyConnection:
        """The open read-only catalogue connection (opened now when there is none)."""
        con, self.con = self.con, None
        return con if con is not None else connect(self.path)

    @property
    def data(self) -> dict[str, Path]:
        """The data files, by table name (relative to the run directory)."""
        return {k: Path(v.file) for k, v in self.layouts.items()}


CATALOG = "run_index"  # what a connection calls the attached index.duckdb
CATALOG_BLOCK_SIZE = 16384  # DuckDB's smallest


def connect(index_path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to index.duckdb. Read-only ones are a fresh in-memory database that ATTACHes
    it: duckdb.connect(path) would hand back a database this process already has open, which is
    the previous index when it has been rebuilt (renamed over) since."""
    if read_only:
        con = duckdb.connect()
        path = str(index_path).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
    else:
        # small blocks: DuckDB's default of 256 KiB per table would make the catalogue of a small
        # run (a dozen small tables) 3 MB, more than the run's events
        con = duckdb.connect()
        path = str(index_path).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS {CATALOG} (BLOCK_SIZE {CATALOG_BLOCK_SIZE})")
        con.execute(f"USE {CATALOG}")
    con.execute("SET enable_progress_bar = false")
    return con


def open_data(run_path: Path, state: IndexState) -> dict[str, C.Mapped]:
    """The bulk tables, memory-mapped (raises OSError when a file went missing)."""
    return {name: C.Mapped(run_path, layout) for name, layout in state.layouts.items()}


def same_build(con: duckdb.DuckDBPyConnection, state: IndexState) -> bool:
    """Does the catalogue open on `con` name exactly the data files of `state`?"""
    try:
        rows = con.execute("SELECT value FROM index_info WHERE key = 'data'").fetchall()
    except duckdb.Error:
        return False
    return len(rows) == 1 and json.loads(rows[0][0]) == {k: v.to_json() for k, v in state.layouts.items()}


def register(con: duckdb.DuckDBPyConnection, data: dict[str, C.Mapped]) -> None:
    """Make the bulk tables queryable on `con` under their names (zero-copy Arrow tables)."""
    for name, as_name in REGISTERED.items():
        con.register(as_name, data[name].arrow_table())



def checksums_name(layouts: dict[str, C.Layout]) -> str:
    """index/checksums-<build>.json, named after the build's accesses file."""
    build = Path(layouts["accesses"].file).stem.removeprefix(FILE_PREFIX["accesses"] + "-")
    return f"checksums-{build}.json"




def to_numpy(array) -> np.ndarray:
    """An Arrow array (or a chunked one) as numpy; dictionary arrays give their indices."""
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else (
            pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], array.type))
    if pa.types.is_dictionary(array.type):
        array = array.indices
    return array.to_numpy(zero_copy_only=False)

