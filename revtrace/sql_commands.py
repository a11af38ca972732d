"""`revtrace sql`: one read-only SQL statement over a run directory (through its index), over a
Parquet export of a run, or over many exports at once (queries/exported.py): a table for people,
`--json` or `--csv` for scripts, and one line with exit code 2 for anything wrong."""

from __future__ import annotations

import csv
import io
import json
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
    help="A SQL query over the run's tables and views (see the README: events_named, writes, ...); or a "
         ".sql file, or the name of one of queries/sql/ (races.sql, last_writer.sql, ...).",
    show_default=False)]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", metavar="NAME=VALUE",
    help="A value for the query's $NAME (repeatable): a number (0x10d too), a JSON list, or text.")]


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
        param: ParamOpt = None,
        each: Annotated[bool, typer.Option(
            "--each", help="Ask the query of each export on its own (as of one export: the named "
                           "queries of queries/sql/ know nothing of `run`) and list the answers one "
                           "after the other, with `run` first.")] = False,
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
                limit_s = DEFAULT_TIMEOUT if timeout is None else timeout
                if each and not hasattr(r, "sql_each"):
                    raise QueryError("--each asks each of several Parquet exports in turn; this is a run "
                                     "directory (one run: leave --each out)", str(paths[0]))
                text, params = _query_text(query), _params(param or [])
                table = (r.sql_each(text, params or None, timeout=limit_s) if each
                         else r.sql(text, params or None, timeout=limit_s))
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


def _query_text(query: str) -> str:
    """The SQL itself, or the text of a .sql file or of a named query of queries/sql/."""
    name = query.strip()
    if not name.endswith(".sql") or any(c.isspace() for c in name):
        return query
    path = Path(name)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise QueryError(f"cannot read it ({err})", name) from None
    from queries.sqlfiles import load_sql, sql_names

    if path.name == name and name[:-4] in sql_names():
        return load_sql(name[:-4])
    raise QueryError(f"no such SQL file, nor a named query of queries/sql/ ({', '.join(sql_names())})", name)


def _params(pairs: list[str]) -> dict[str, Any]:
    """--param NAME=VALUE: a number (decimal or 0x..), a JSON value (a list), or text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip().lstrip("$").isidentifier():
            raise QueryError(f"--param takes NAME=VALUE, got {pair!r}")
        try:
            parsed: Any = int(value, 0)
        except ValueError:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        out[name.strip().lstrip("$")] = parsed
    return out


def _plain(v: Any) -> Any:
    """SQL values as JSON-friendly ones (bytes, dates, decimals and the like become strings)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return str(v)
