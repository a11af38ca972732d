"""revtrace's third floor: a recorded run directory opened in DuckDB, and the reverse queries.

    import queries
    with queries.open_run("runs/race_counter-1") as run:
        run.last_writer("counter")            # who last wrote it
        run.last_writer("page0.flags:PG_dirty", before="panic")
        run.races()                           # ThreadSanitizer-style report
        run.sql("SELECT * FROM writes WHERE symbol = 'counter' ORDER BY seq")

Never imports sim/: a run directory is all it needs.
"""

from .errors import QueryError, QueryWarning

__all__ = ["QueryError", "QueryWarning", "Run", "open_run"]


def __getattr__(name: str):
    # DuckDB and pyarrow load with the first run opened, not with `import queries`
    if name in ("Run", "open_run"):
        from . import run
        return getattr(run, name)
    raise AttributeError(f"module 'queries' has no attribute {name!r}")
