"""`revtrace sweep`: hunting a bug across seeds."""

from __future__ import annotations

from typing import Annotated

import typer

from sim.errors import SimError
from tracer.errors import TraceError

from . import options as cli
from .output import console, err_console, fail, print_json, print_table

Seeds = Annotated[str, typer.Option("--seeds", help="Seeds to run: A..B inclusive (e.g. 0..199), or one seed.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (default: 2, this machine's cores).")]
Keep = Annotated[str | None, typer.Option("--keep", help="Record a run directory DIR/seed-N for each failing seed "
                                                         "(with --engine ray: a path every worker can reach).")]
Engine = Annotated[str, typer.Option("--engine", help="Where runs execute: process (a local process pool) or ray.")]
Address = Annotated[str | None, typer.Option("--address", help="--engine ray: the cluster to join (e.g. ray://head:10001 "
                                                               "or auto); default: start a local Ray instance.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def diff(run_a: Annotated[str, typer.Argument(help="The first run directory (e.g. v1).")],
             run_b: Annotated[str, typer.Argument(help="The second run directory (e.g. v2).")],
             json: cli.Json = False) -> None:
        """What differs between two recordings of one scenario (two variants, or two seeds).

        Shows the instructions present in only one program, each thread's first divergence after
        aligning the two event streams in program order, the writes present in only one run, the
        outcomes, and the invariant windows and race pairs present in only one run.
        """
        from queries import open_run
        from queries.diff import diff_runs
        from queries.errors import QueryError

        def races(path):
            with open_run(path) as run:
                return run.races()

        def windows(path):
            with open_run(path) as run:
                return run.windows()

        try:
            d = diff_runs(run_a, run_b, races=races, windows=windows)
        except QueryError as e:
            fail(str(e))
        if json:
            print_json(d)
        else:
            render_diff(d)

    @app.command()
    def sweep(scenario: cli.Scenario, seeds: Seeds, variant: cli.Variant = None, cores: cli.Cores = None,
              sched: cli.Sched = "random", depth: cli.Depth = 3, quantum: cli.Quantum = 8,
              memory_model: cli.MemoryModel = None, step_limit: cli.StepLimit = None, param: cli.Params = None,
              max_burst: cli.MaxBurst = None, pct_steps: cli.PctSteps = None,
              check_invariants: cli.CheckInvariants = False, show: cli.Show = None, jobs: Jobs = 2,
              keep: Keep = None, engine: Engine = "process", address: Address = None,
              json: cli.Json = False) -> None:
        """Run a scenario for many seeds in parallel and report which seeds fail and where.

        Prints the count of each outcome, the failing seeds, their panic sites and failed checks,
        and with --show SYM a histogram of SYM's final value across seeds; with --keep, records each
        failing seed so you can query and replay it. A scenario that does not load or assemble is
        refused before any seed runs.
        """
        from tracer.sweep_session import FAILING, parse_seeds
        from tracer.sweep_session import sweep as run_sweep

        options = cli.run_options(variant, cores, 0, sched, depth, quantum, memory_model, step_limit, param,
                                  max_burst=max_burst, pct_steps=pct_steps, check_invariants=check_invariants)
        try:
            seed_range = parse_seeds(seeds)
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            progress = Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failing]} failing"), TimeElapsedColumn(),
                                console=err_console.rich, transient=True, disable=json)
            with progress:
                task = progress.add_task("sweep", total=len(seed_range), failing=0)
                failing = 0

                def report(r: dict) -> None:
                    nonlocal failing
                    failing += r["outcome"] in FAILING
                    progress.update(task, advance=1, failing=failing)

                result = run_sweep(scenario, options, seed_range, jobs=jobs, keep=keep, progress=report,
                                   show=show or (), engine=engine, address=address)
        except (SimError, TraceError) as e:
            fail(str(e))
        summary = result.as_dict()
        if json:
            print_json(summary)
            return
        o = summary["options"]
        console.print(f"{summary['runs']} runs of {summary['scenario']} (variant {o['variant'] or '-'}, "
                      f"cores {o['cores'] or 'default'}, {o['sched']}"
                      + (f" depth {o['depth']} steps {o['pct_steps']}" if o["sched"] in ("pct", "pct-mc") else "")
                      + (f" max-burst {o['max_burst']}" if o["max_burst"] else "")
                      + f"), seeds {summary['seeds']}" + (" on ray" if summary["engine"] == "ray" else ""),
                      markup=False)
        print_table("outcomes", ["outcome", "runs", "share"],
                    [(k, v, f"{v / summary['runs']:.1%}") for k, v in summary["outcomes"].items()])
        if summary["panic_sites"]:
            print_table("panic sites", ["message", "at", "function", "runs"],
                        [(p["message"], f"{p['file']}:{p['line']}", p["function"], p["count"])
                         for p in summary["panic_sites"]])
        if summary["failed_checks"]:
            print_table("failed checks", ["kind", "name", "expression", "runs"],
                        [(c["kind"], c["name"], c["expr"], c["count"]) for c in summary["failed_checks"]])
        for name, rows in summary["histograms"].items():
            binned = _bins(rows)
            print_table(f"final value of {name}", ["value", "runs", "share", ""],
                        [(v, n, f"{n / summary['runs']:.1%}", "#" * max(1, round(40 * n / summary["runs"])))
                         for v, n in binned])
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


def register_hunt(app: typer.Typer) -> None:
    @app.command()
    def hunt(scenario: cli.Scenario, variant: cli.Variant = None, cores: cli.Cores = None,
             seed: Annotated[int, typer.Option("--seed", "-s", help="The first seed the hunt uses.")] = 0,
             budget: Annotated[int, typer.Option("--budget", help="Give up after this many runs.")] = 1000,
             out: Annotated[str | None, typer.Option("--out", "-o", help="Record the failing run here.")] = None,
             force: Annotated[bool, typer.Option("--force", help="Replace an existing --out directory.")] = False,
             memory_model: cli.MemoryModel = None, step_limit: cli.StepLimit = None, param: cli.Params = None,
             max_burst: Annotated[int | None, typer.Option(
                 "--max-burst", help="Bursts of 1..N instructions for the threads no directive names (default 4).")] = None,
             check_invariants: cli.CheckInvariants = False, jobs: Jobs = 2, engine: Engine = "process",
             address: Address = None, json: cli.Json = False) -> None:
        """Hunt a failing schedule, steered by a passing run's races and reads-from coverage.

        Records one passing run, asks the queries for its racing pairs and invariant windows, and
        tries to reverse each pair (hold one thread just before its access until the other has
        made the conflicting one); then mutates the schedules that show a reads-from pair (writer
        site, reader site) never seen before. Stops at the first failing run (panic, deadlock,
        step limit or failed check) and, with -o, records it: the recording's options hold the
        schedule (seed and directives), so `replay` re-executes it.
        """
        from hunt import hunt as run_hunt
        from queries.errors import QueryError

        options = cli.run_options(variant, cores, 0, "random", 3, 8, memory_model, step_limit, param,
                                  max_burst=max_burst, check_invariants=check_invariants)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(TextColumn("hunting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err_console.rich, transient=True, disable=json)
        try:
            with progress:
                task = progress.add_task("hunt", total=budget)
                result = run_hunt(scenario, options, seed=seed, budget=budget, out=out, force=force, jobs=jobs,
                                  engine=engine, address=address,
                                  progress=lambda n, r: progress.update(task, completed=n))
        except (SimError, TraceError, QueryError) as e:
            fail(str(e))
        d = result.as_dict()
        if json:
            print_json(d)
            return
        render_hunt(d)


def render_hunt(d: dict) -> None:
    o = d["options"]
    console.print(f"hunted {d['scenario']} (variant {o['variant'] or '-'}, cores {o['cores'] or 'default'}, "
                  f"bursts 1..{o['max_burst']}) from seed {o['seed']}", markup=False)
    if d["passing_seed"] is not None:
        console.print(f"passing run: seed {d['passing_seed']}: {d['racing_pairs']} racing pairs, "
                      f"{d['windows']} invariant windows", markup=False)
    phases = ", ".join(f"{k} {v}" for k, v in d["phases"].items())
    if not d["found"]:
        console.print(f"no failure in {d['runs']} runs ({phases}); {d['coverage']} reads-from pairs covered",
                      markup=False)
        return
    f = d["failure"]
    console.print(f"found after {d['runs']} runs ({phases}): {f['outcome']}", markup=False)
    if f.get("panic"):
        p = f["panic"]
        console.print(f"  panic: {p['message']}", markup=False)
        console.print(f"  at {p['file']}:{p['line']} in {p['function']}, thread {p['thread']} "
                      f"on {p['machine']} core {p['core']}", markup=False)
    if f.get("check"):
        c = f["check"]
        console.print(f"  {c['kind']} failed: {c['name']}: {c['expr']}", markup=False)
    for line in f.get("blocked", []):
        console.print(f"  blocked: {line}", markup=False)
    console.print(f"  schedule: directed, seed {f['seed']}" + ("" if f["held"] else ", no directive"),
                  markup=False)
    for line in f["held"]:
        console.print(f"    {line}", markup=False)
    if d["run_dir"]:
        console.print(f"recorded: {d['run_dir']}", markup=False)
        from pathlib import Path

        schedule = Path(d["run_dir"]) / "schedule.json"
        if schedule.is_file():
            console.print(f"its schedule: {schedule} (run it again with --schedule)", markup=False)


def _bins(rows: list[list[int]], most: int = 16) -> list[tuple[str, int]]:
    """A histogram's [value, runs] rows, as they are when few, else grouped into `most` equal ranges
    (the JSON output keeps every value)."""
    if len(rows) <= most:
        return [(str(v), n) for v, n in rows]
    lo, hi = rows[0][0], rows[-1][0]
    width = -(-(hi - lo + 1) // most)
    out: dict[int, int] = {}
    for v, n in rows:
        b = (v - lo) // width
        out[b] = out.get(b, 0) + n
    return [(f"{lo + b * width}..{min(hi, lo + (b + 1) * width - 1)}", n) for b, n in sorted(out.items())]


def render_diff(d: dict) -> None:
    a, b = d["a"], d["b"]
    console.print(f"A: {d['run_a']}  (variant {a['variant'] or '-'}, seed {a['seed']}, {a['sched']})  "
                  f"outcome {d['outcome_a']}", markup=False)
    console.print(f"B: {d['run_b']}  (variant {b['variant'] or '-'}, seed {b['seed']}, {b['sched']})  "
                  f"outcome {d['outcome_b']}", markup=False)
    for side in ("a", "b"):
        p = d[f"panic_{side}"]
        if p:
            console.print(f"  {side.upper()} panicked: {p['message']} at {p['file']}:{p['line']} "
                          f"({p['function']}, thread {p['thread']}, core {p['core']})", markup=False)
    if d["code_changes"]:
        print_table("code present in only one run", ["run", "machine", "function", "at", "instruction"],
                    [(c["side"].upper(), c["machine"], c["function"], f"{c['file']}:{c['line']}", c["text"])
                     for c in d["code_changes"]])
    rows = []
    for thread, fd in d["first_divergence"].items():
        if fd is None:
            rows.append((thread, "same behaviour", "", ""))
            continue
        rows.append((thread, f"after {fd['matched_before']} matching events", _ev(fd["a"]), _ev(fd["b"])))
    print_table("first divergence per thread", ["thread", "where", "A", "B"], rows)
    for side in ("a", "b"):
        groups = d[f"only_in_{side}"]
        if groups:
            print_table(f"writes only in {side.upper()} (thread, function, symbol, bits)",
                        ["thread", "function", "symbol", "change", "count"],
                        [(g["thread"], g["function"], g["symbol"], g["bits"], g["count"]) for g in groups[:15]])
            if len(groups) > 15:
                console.print(f"  ... {len(groups) - 15} more groups (see --json)", markup=False)
    for key, title in (("windows_only_in", "invariant windows only in"), ("races_only_in", "race pairs only in")):
        for side in ("a", "b"):
            items = d.get(f"{key}_{side}") or []
            if items:
                console.print(f"{title} {side.upper()}: {len(items)}", markup=False)


def _ev(e: dict | None) -> str:
    if e is None:
        return "(no more events)"
    what = f"{e['kind']} {e['symbol']}".strip()
    return f"{what} in {e['function']} ({e['file']}:{e['line']}) seq {e['seq']}"


def register_demo(app: typer.Typer) -> None:
    @app.command()
    def demo(out: Annotated[str, typer.Option("--out", "-o", help="Where to write the two run directories.")] = "revtrace-demo",
             cores: Annotated[int, typer.Option("--cores", "-c", help="Cores of the NFS client (2 or more to race).")] = 2,
             seeds: Seeds = "0..199", jobs: Jobs = 2, json: cli.Json = False) -> None:
        """The whole story on the bundled NFS x VMXMON scenario, in seconds.

        Hunts a seed on which v2 (after VMXMON's one-line change) hits the NFS BUG_ON, records v1
        and v2 with it, and shows the panic, the last writer of the dirty flag, the racing pair,
        the broken invariant's window, the data v1 loses, and the diff of the two versions.
        """
        from pathlib import Path

        from queries.errors import QueryError
        from tracer.sweep_session import parse_seeds

        from .demo import run_demo

        try:
            found = run_demo(Path(out), cores=cores, seeds=parse_seeds(seeds), jobs=jobs, quiet=json)
        except (SimError, TraceError, QueryError) as e:
            fail(str(e))
        if json:
            print_json(found)
