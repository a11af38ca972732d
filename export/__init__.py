"""Floor 4: a recording in other tools' formats and as a picture.

- export.parquet: the run as Hive-partitioned Parquet tables (events, accesses, vector clocks,
  dimension tables) for DuckDB, Spark, Trino, Polars, pyarrow.dataset;
- export.perfetto_trace: the run as a Perfetto trace (tracks per machine and core, slices,
  instants, counters, flows);
- export.timeline: the run as a matplotlib picture (a lane per core);
- export.story: what the last two draw (who ran where, function calls, watched writes, the
  invariant windows, the race pairs, the messages, the panic), read once from the recording.

Reads run directories through tracer/ and queries/; never drives the simulator.
"""

from .errors import ExportError

__all__ = ["ExportError"]
