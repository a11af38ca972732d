"""`revtrace export` (Parquet, Perfetto) and `revtrace timeline` (a picture of the run)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as cli
from .output import console, err_console, fail, print_json

Run = Annotated[str, typer.Argument(help="A run directory written by `revtrace record`.")]
Runs = Annotated[str, typer.Argument(
    metavar="RUN", help="A run directory written by `revtrace record`; for parquet also a folder of runs "
                        "(a sweep's --keep folder: one export per run under --out).")]
Format = Annotated[str, typer.Option("--format", "-f", help="parquet (a folder of tables) or perfetto (one trace file).")]
Force = Annotated[bool, typer.Option("--force", help="Replace an earlier export at --out.")]
Watch = Annotated[list[str] | None, typer.Option("--watch", "-w", help="A symbol whose writes to mark (repeatable), e.g. page0.flags; default: the invariants' words.")]
Counter = Annotated[list[str] | None, typer.Option("--counter", help="A symbol whose value to show as a counter track (repeatable; default: the watched words).")]
FromSeq = Annotated[int | None, typer.Option("--from", help="The first event to draw (default: the first).")]
ToSeq = Annotated[int | None, typer.Option("--to", help="The last event to draw (default: the last).")]
FORMATS = ("parquet", "perfetto")


def register(app: typer.Typer) -> None:
    @app.command()
    def export(run: Runs,
               out: Annotated[str, typer.Option("--out", "-o", help="The folder (parquet) or file (perfetto) to write.")],
               format: Format = "parquet", watch: Watch = None, counter: Counter = None,
               from_seq: FromSeq = None, to_seq: ToSeq = None, force: Force = False,
               json: cli.Json = False) -> None:
        """Write a recording for other tools: Parquet tables or a Perfetto trace.

        parquet: events, accesses, vector clocks and the dimension tables as zstd Parquet,
        partitioned Hive-style by machine (events/machine=client/part-0.parquet), with a README of
        the tables; `revtrace sql DIR` queries it with the run's tables and views. A folder of
        runs (a sweep's --keep folder) is exported run by run into DIR/<run>/, and `revtrace sql
        DIR` reads them as one set of tables with a `run` column.

        perfetto: a trace for ui.perfetto.dev: a track per machine and core with the threads'
        time slices and function calls, the writes to --watch symbols, counter tracks, flow
        arrows for messages and race pairs, the invariant windows and the panic.
        """
        from export import ExportError

        if format not in FORMATS:
            fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
        try:
            if format == "parquet":
                if watch or counter or from_seq is not None or to_seq is not None:
                    fail("--watch, --counter, --from and --to apply to --format perfetto")
                from export.parquet import export_parquet, export_parquet_runs, is_folder_of_runs
                if is_folder_of_runs(run):
                    summary = export_parquet_runs(run, out, force=force)
                else:
                    summary = export_parquet(run, out, force=force)
            else:
                from export.perfetto_trace import export_perfetto
                summary = export_perfetto(run, out, watch=watch or None, counters=counter, force=force,
                                          first=from_seq, last=to_seq)
        except ExportError as e:
            fail(str(e))
        for warning in summary.get("warnings", []):
            err_console.print(f"revtrace: warning: {summary['run']}: {warning}", markup=False, soft_wrap=True)
        if json:
            print_json(summary)
            return
        if format == "parquet" and summary["kind"] == "runs":
            console.print(f"exported {len(summary['runs'])} runs, {summary['events']:,} events, to {summary['out']} "
                          f"(Parquet, zstd; one export per run): {', '.join(summary['runs'])}", markup=False,
                          soft_wrap=True)
            console.print(f"  query them as one: revtrace sql {summary['out']} \"SELECT run, outcome, count(*) FROM "
                          "events JOIN runs USING (run) GROUP BY ALL\"", markup=False, soft_wrap=True)
        elif format == "parquet":
            tables = ", ".join(f"{name} {rows:,}" for name, rows in summary["tables"].items())
            console.print(f"exported {summary['events']:,} events to {summary['out']} (Parquet, zstd)", markup=False, soft_wrap=True)
            console.print(f"  tables: {tables}", markup=False, soft_wrap=True)
            console.print(f"  query it: revtrace sql {summary['out']} \"SELECT ...\"; or with DuckDB: SELECT * FROM read_parquet('{summary['out']}/events/*/*.parquet', "
                          "hive_partitioning = true)", markup=False, soft_wrap=True)
        else:
            console.print(f"exported {summary['events']:,} events to {summary['out']} (Perfetto trace, "
                          f"{summary['packets']:,} packets): open it in https://ui.perfetto.dev", markup=False, soft_wrap=True)
            console.print("  " + ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items()), markup=False, soft_wrap=True)


def register_timeline(app: typer.Typer) -> None:
    @app.command()
    def timeline(run: Run,
                 out: Annotated[str, typer.Option("--out", "-o", help="The picture to write: .png or .svg (or .pdf).")],
                 from_seq: FromSeq = None, to_seq: ToSeq = None, watch: Watch = None,
                 json: cli.Json = False) -> None:
        """Draw who ran where: a lane per core coloured by thread, the writes to watched words
        with their bit changes, the invariant windows shaded, race pairs joined, the panic marked."""
        from export import ExportError
        from export.timeline import draw_timeline

        try:
            summary = draw_timeline(run, out, first=from_seq, last=to_seq, watch=watch or None)
        except ExportError as e:
            fail(str(e))
        for warning in summary.get("warnings", []):
            err_console.print(f"revtrace: warning: {summary['run']}: {warning}", markup=False, soft_wrap=True)
        if json:
            print_json(summary)
            return
        console.print(f"drew events {summary['from']:,}..{summary['to']:,} of {summary['run']} to {summary['out']}: "
                      f"{len(summary['lanes'])} lanes, {summary['writes']} watched writes, "
                      f"{summary['windows']} invariant windows, {summary['races']} race pairs"
                      + (", the panic" if summary["panic"] is not None else ""), markup=False, soft_wrap=True)
