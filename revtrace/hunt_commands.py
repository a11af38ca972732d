"""`revtrace sweep`: hunting a bug across seeds."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sim.errors import SimError
from tracer.errors import TraceError

from . import cli
from .output import console, err_console, fail, print_json, print_table

Seeds = Annotated[str, typer.Option("--seeds", help="Seeds to run: A..B inclusive (e.g. 0..199), or one seed.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (default: 2, this machine's cores).")]
Keep = Annotated[Optional[str], typer.Option("--keep", help="Record a run directory DIR/seed-N for each failing seed.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(scenario: cli.Scenario, seeds: Seeds, variant: cli.Variant = None, cores: cli.Cores = None,
              sched: cli.Sched = "random", depth: cli.Depth = 3, quantum: cli.Quantum = 8,
              memory_model: cli.MemoryModel = None, step_limit: cli.StepLimit = None, param: cli.Params = None,
              jobs: Jobs = 2, keep: Keep = None, json: cli.Json = False) -> None:
        """Run a scenario for many seeds in parallel and report which seeds fail and where.

        Prints the count of each outcome, the failing seeds and their panic sites; with --keep,
        records each failing seed so you can query and replay it.
        """
        from tracer.sweep_session import parse_seeds
        from tracer.sweep_session import sweep as run_sweep

        options = cli.run_options(variant, cores, 0, sched, depth, quantum, memory_model, step_limit, param)
        try:
            seed_range = parse_seeds(seeds)
            progress = Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failing]} failing"), TimeElapsedColumn(),
                                console=err_console, transient=True, disable=json)
            with progress:
                task = progress.add_task("sweep", total=len(seed_range), failing=0)
                failing = 0

                def report(r: dict) -> None:
                    nonlocal failing
                    failing += r["outcome"] in ("panic", "deadlock", "step_limit")
                    progress.update(task, advance=1, failing=failing)

                result = run_sweep(scenario, options, seed_range, jobs=jobs, keep=keep, progress=report)
        except (SimError, TraceError) as e:
            fail(str(e))
        summary = result.as_dict()
        if json:
            print_json(summary)
            return
        o = summary["options"]
        console.print(f"{summary['runs']} runs of {summary['scenario']} (variant {o['variant'] or '-'}, "
                      f"cores {o['cores'] or 'default'}, {o['sched']}"
                      + (f" depth {o['depth']}" if o["sched"] == "pct" else "") + f"), seeds {summary['seeds']}",
                      markup=False)
        print_table("outcomes", ["outcome", "runs", "share"],
                    [(k, v, f"{v / summary['runs']:.1%}") for k, v in summary["outcomes"].items()])
        if summary["panic_sites"]:
            print_table("panic sites", ["message", "at", "function", "runs"],
                        [(p["message"], f"{p['file']}:{p['line']}", p["function"], p["count"])
                         for p in summary["panic_sites"]])
        if summary["failures"]:
            seeds_text = ", ".join(str(s) for s in summary["failing"][:40])
            more = f" (+{len(summary['failing']) - 40} more)" if len(summary["failing"]) > 40 else ""
            console.print(f"failing seeds: {seeds_text}{more}", markup=False)
            kept = [r["run_dir"] for r in summary["failures"] if r.get("run_dir")]
            if kept:
                console.print(f"recorded: {', '.join(kept[:5])}" + (" ..." if len(kept) > 5 else ""), markup=False)
        else:
            console.print("no failing seed", markup=False)
        for r in summary["errors"]:
            console.print(f"seed {r['seed']}: {r['outcome']}: {r.get('error', '')}", markup=False)
