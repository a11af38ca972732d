"""User SQL that cannot write, reach the file system or run forever.

A query connection (every `Run` has one) is locked down once its catalogue is attached and its
column files are registered (`lock_down`): DuckDB's `enable_external_access = false` takes away
every file-system path (COPY ... TO, ATTACH, EXPORT, read_csv/read_text/glob/parquet_scan, INSTALL,
LOAD, secrets) and Python replacement scans (a query naming a Python variable); extensions can
neither be installed nor loaded automatically; `lock_configuration = true` then makes all of it
permanent for the connection (a `SET` is refused by DuckDB itself). The column files stay
queryable: they are Arrow tables registered before the lock (registration is not a file access).
The catalogue is attached READ_ONLY, so nothing can change it either.

On top of that, `check_statement` accepts one statement per call and only the kinds that read
(SELECT in all its spellings: FROM-first, VALUES, SHOW, DESCRIBE, SUMMARIZE, and EXPLAIN), so a
DETACH, a DROP of a view or a CREATE in the connection's scratch database is refused before it
runs, with one line that names what was refused. `run_with_timeout` interrupts a query that runs
longer than its limit (`con.interrupt()` from a timer thread) and says so.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa

from .errors import QueryError

DEFAULT_TIMEOUT = 60.0  # seconds
READING = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
SETTINGS_BEFORE_LOCK = (
    "SET python_enable_replacements = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",  # last: from here on no SET is accepted
)
ECHO_LIMIT = 80  # characters of the user's SQL quoted back in an error


class QueryTimeout(QueryError):
    """The query ran longer than its time limit and was interrupted."""


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file system, no extensions, no replacement scans, and no way to change that."""
    for statement in SETTINGS_BEFORE_LOCK:
        con.execute(statement)


def is_locked(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute("SELECT value FROM duckdb_settings() WHERE name IN "
                       "('enable_external_access', 'lock_configuration') ORDER BY name").fetchall()
    return [r[0] for r in rows] == ["false", "true"]


def check_statement(text: str) -> str:
    """The one reading statement in `text` (refused with a QueryError otherwise)."""
    if not text.strip():
        raise QueryError("empty SQL statement")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    if not statements:
        raise QueryError("empty SQL statement")
    if len(statements) > 1:
        raise QueryError(f"one SQL statement per call, found {len(statements)} "
                         "(revtrace sql runs a single query)")
    kind = statements[0].type
    if kind not in READING:
        word = kind.name.replace("_STATEMENT", "").replace("_", " ")
        raise QueryError(f"revtrace sql is read-only: {word} statements are refused "
                         f"({_echo(text)}); use SELECT")
    return text


def run_with_timeout(con: duckdb.DuckDBPyConnection, text: str, params, timeout: float | None
                     ) -> pa.Table:
    """Run one reading statement; interrupt it after `timeout` seconds (None: no limit)."""
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        timer.start()
    try:
        rel = con.sql(text, params=params) if params else con.sql(text)
        return pa.table({}) if rel is None else rel.to_arrow_table()
    except duckdb.Error as err:
        if fired.is_set() or isinstance(err, duckdb.InterruptException):
            raise QueryTimeout(f"the query ran longer than {timeout:g} s and was interrupted "
                               "(--timeout sets the limit)") from None
        raise QueryError(_first_line(err)) from None
    finally:
        if timer is not None:
            timer.cancel()


def _echo(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ECHO_LIMIT else flat[:ECHO_LIMIT] + "…"


def _first_line(err: BaseException) -> str:
    lines = [s.strip() for s in str(err).strip().splitlines() if s.strip()]
    return lines[0] if lines else type(err).__name__
