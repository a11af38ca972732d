"""`revtrace sql`: one read-only SQL statement over a run directory (through its index), over a
Parquet export of a run, or over many exports at once (queries/exported.py): a table for people,
`--json` or `--csv` for scripts, and one line with exit code 2 for anything wrong."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from queries import QueryError
from revtrace.output import err_console, print_table
from revtrace.query_commands import JsonOpt, StrictOpt, _guard, _json, _open

PathsArg = Annotated[list[Path], typer.Argument(
    metavar="RUN|EXPORT...",
    help="A run directory; or one or more Parquet exports (revtrace export RUN -o DIR), or folders of "
         "exports (revtrace export KEEP -o DIR over a sweep's kept runs), read as one set of tables "
         "with a `run` column.", show_default=False)]
QueryArg = Annotated[str, typer.Argument(
    help="A SQL query over the run's tables and views (see the README: events_named, writes, ...).",
    show_default=False)]


def register(app: typer.Typer) -> None:
    @app.command("sql")
    def sql(
        paths: PathsArg,
        query: QueryArg,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
        csv_: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1,
                                           help="Rows to show in the table (JSON and CSV get all).")] = 200,
        timeout: Annotated[float | None, typer.Option(
            "--timeout", min=0.001, metavar="SECONDS", show_default=False,
            help="Interrupt the query after this many seconds (default: 60).")] = None,
    ) -> None:
        """Run one read-only SQL statement (SELECT) on a run, or on Parquet exports of runs.

        A run directory is queried through its index. A Parquet export (revtrace export RUN -o
        DIR) answers the same query with the same tables and views, except word_offsets and
        index_info: they describe the run's query index, which an export has not.

        Several exports, or a folder of exports (revtrace export over a sweep's --keep folder),
        are one set of tables: each table and view is the union of the runs' rows with a `run`
        column first (the export's folder name), the views join within each run (ids are per
        run: a join you write must include `run`), and `runs` lists the runs with their
        scenario, variant, seed and outcome. Nothing is written: no files, no index.
        """
        def go():
            if json_ and csv_:
                raise QueryError("choose one of --json and --csv")
            from queries.readonly import DEFAULT_TIMEOUT  # with DuckDB, when a query runs

            with _open_any(paths, strict) as r:
                table = r.sql(query, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
                rows = table.to_pylist()
                if json_:
                    _json(r, [{k: _plain(v) for k, v in row.items()} for row in rows])
                elif csv_:
                    out = io.StringIO()
                    w = csv.writer(out, lineterminator="\n")
                    w.writerow(table.column_names)
                    for row in rows:
                        w.writerow([_plain(v) for v in row.values()])
                    sys.stdout.write(out.getvalue())
                else:
                    shown = rows[:limit]
                    title = f"{len(rows)} rows" + (f" (first {limit}; --limit or --csv for more)"
                                                   if len(rows) > limit else "")
                    print_table(title, table.column_names,
                                [[_plain(v) for v in row.values()] for row in shown])
        _guard(go)


def _open_any(paths: list[Path], strict: bool):
    """A run directory (one) opens as a run; anything else as Parquet exports."""
    from queries.exported import classify, open_exports

    if len(paths) == 1 and classify(paths[0]) == "run":
        return _open(paths[0], strict)
    exported = open_exports(paths)
    if strict and exported.warnings:
        exported.close()
        raise QueryError(f"--strict: {exported.warnings[0]}" + (
            f" (and {len(exported.warnings) - 1} more warning(s))" if len(exported.warnings) > 1 else ""),
            exported.location)
    for w in exported.warnings:
        err_console.print(f"revtrace: warning: {exported.location}: {w}", markup=False, soft_wrap=True)
    return exported


def _plain(v: Any) -> Any:
    """SQL values as JSON-friendly ones (bytes, dates, decimals and the like become strings)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return str(v)
