"""`revtrace explore` (every schedule within a preemption bound) and `revtrace shrink`."""

from __future__ import annotations

from typing import Annotated

import typer

from sim.errors import SimError
from tracer.errors import TraceError

from . import options as cli
from .output import console, err_console, fail, print_json

Preemptions = Annotated[int, typer.Option("--preemptions", "-k", help="The bound: at most this many preemptions.")]
Delays = Annotated[bool, typer.Option(
    "--delays/--no-delays", help="Delay bounding: a forced switch to a core other than the next in turn also "
                                 "counts (default: on, which keeps runs with many blocking points tractable).")]
MaxStates = Annotated[int | None, typer.Option("--max-states", help="Stop after exploring this many states.")]
Out = Annotated[str | None, typer.Option("--out", "-o", help="Where to record the failure found (shrunk).")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing run directory.")]
Engine = Annotated[str, typer.Option("--engine", help="local (this process) or ray: the search split at its first "
                                                      "choice, one Ray task per subtree.")]
Address = Annotated[str | None, typer.Option("--address", help="--engine ray: an existing cluster (default: a local one).")]


def _progress(enabled: bool, what: str):
    if not enabled:
        return None

    def report(d: dict) -> None:
        parts = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in d.items() if v is not None)
        err_console.print(f"{what}: {parts}", markup=False)
    return report


def register(app: typer.Typer) -> None:
    @app.command()
    def explore(scenario: cli.Scenario, preemptions: Preemptions = 2, variant: cli.Variant = None,
                cores: cli.Cores = None, memory_model: cli.MemoryModel = None, step_limit: cli.StepLimit = None,
                param: cli.Params = None, delays: Delays = True, max_states: MaxStates = None, out: Out = None,
                force: Force = False, engine: Engine = "local", address: Address = None,
                json: cli.Json = False) -> None:
        """Explore every schedule with at most K preemptions (CHESS's iterative preemption bounding),
        each distinct one once (state caching), under sc or tso (drains are choices).

        Prints the first failure (recorded to --out and shrunk) or "no failure in all N schedules
        with at most K preemptions", with the counts and the time.
        """
        from sim.explorer import explore as run_explore
        from sim.scenario import load_scenario, validate_options

        if engine not in ("local", "ray"):
            fail(f"unknown engine {engine!r} (choose from local, ray)")
        map_tasks = None
        if engine == "ray":
            def map_tasks(fn, tasks):
                from tracer.task_engine import run_tasks

                results = [None] * len(tasks)

                def done(i, r):
                    if isinstance(r, BaseException):
                        raise TraceError(f"an explore task failed: {r}")
                    results[i] = r
                run_tasks(fn, tasks, done, engine="ray", jobs=2, address=address)
                return results
        if preemptions < 0:
            fail(f"--preemptions must be >= 0, got {preemptions}")
        options = cli.run_options(variant, cores, 0, "random", 3, 8, memory_model, step_limit, param)
        try:
            sc = load_scenario(scenario)
            opts = validate_options(sc, options)
            result = run_explore(sc, opts, preemptions=preemptions, delays=delays, max_states=max_states,
                                 progress=_progress(not json, "exploring"), map_tasks=map_tasks)
        except (SimError, TraceError) as e:
            fail(str(e))
        d = result.as_dict()
        d["scenario"] = sc.name
        shrunk = None
        if result.failure is not None and out is not None:
            import tracer
            from hunt.shrink import shrink_schedule

            try:
                shrunk = shrink_schedule(sc, opts, result.failure.schedule)
                run = tracer.record(sc, out, force=force, options=opts, schedule=shrunk.schedule)
            except (SimError, TraceError) as e:
                fail(str(e))
            shrunk.run_dir = str(run.path)
            d["shrunk"] = shrunk.as_dict()
        if json:
            print_json(d)
            return
        mode = " (delay bounding)" if delays else ""
        if result.failure is None:
            note = f" ({result.stopped})" if result.stopped else ""
            console.print(f"no failure in all {result.explored:,} schedules with at most {preemptions} "
                          f"preemption{'s' if preemptions != 1 else ''}{mode}{note}", markup=False)
        else:
            o = result.failure.outcome
            where = ""
            if o.get("panic"):
                p = o["panic"]
                where = f": {p['message']} at {p['file']}:{p['line']} in {p['function']}"
            k = result.failure.preemptions
            console.print(f"failure with {k} preemption{'s' if k != 1 else ''}{mode}: {o['outcome']}{where}",
                          markup=False)
            if shrunk is not None:
                console.print(shrunk.story_text(), markup=False)
                console.print(f"recorded to {shrunk.run_dir}", markup=False)
        console.print(f"explored {result.explored:,} schedules, pruned {result.pruned:,} (states already explored), "
                      f"bounded {result.bounded:,}, {result.states:,} states, {result.seconds:.2f} s", markup=False)

    @app.command()
    def shrink(run_dir: Annotated[str, typer.Argument(help="A failing recording.")],
               out: Annotated[str, typer.Option("--out", "-o", help="Where to record the shrunk run.")],
               force: Force = False, json: cli.Json = False) -> None:
        """Shrink a failing recording to as few preemptions as possible that fail the same way
        (delta debugging over its switch points), record it and tell its preemptions."""
        from hunt.shrink import shrink_run

        try:
            result = shrink_run(run_dir, out, force=force, progress=_progress(not json, "shrinking"))
        except (SimError, TraceError) as e:
            fail(str(e))
        if json:
            print_json(result.as_dict())
            return
        o = result.outcome
        console.print(f"{result.original_preemptions} preemptions -> {result.preemptions} "
                      f"({result.tests:,} runs, {result.seconds:.2f} s); outcome: {o['outcome']}", markup=False)
        console.print(result.story_text(), markup=False)
        console.print(f"recorded to {result.run_dir}", markup=False)
