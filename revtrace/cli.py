"""The `revtrace` command line: parse, call one function below, render."""

from __future__ import annotations

import typer

from sim.errors import SimError

from .options import (
    CheckInvariants,
    Cores,
    Depth,
    Json,
    MaxBurst,
    MemoryModel,
    Params,
    PctSteps,
    Quantum,
    SaveSchedule,
    Scenario,
    ScheduleFile,
    Sched,
    Seed,
    Show,
    StepLimit,
    Variant,
    render_outcome,
    run_options,
)
from .output import fail, print_json

app = typer.Typer(
    name="revtrace",
    help="Record, replay and query concurrency bugs on a deterministic multi-core simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Record, replay and query concurrency bugs on a deterministic multi-core simulator.

    Start with `revtrace demo`: the NFS write-back x VMXMON race, found, explained and diffed.
    """


@app.command()
def run(scenario: Scenario, variant: Variant = None, cores: Cores = None, seed: Seed = 0,
        sched: Sched = "random", depth: Depth = 3, quantum: Quantum = 8, memory_model: MemoryModel = None,
        step_limit: StepLimit = None, param: Params = None, show: Show = None, max_burst: MaxBurst = None,
        pct_steps: PctSteps = None, check_invariants: CheckInvariants = False, schedule: ScheduleFile = None,
        save_schedule: SaveSchedule = None, json: Json = False) -> None:
    """Run a scenario without recording and print its outcome.

    A run that completes but breaks one of the scenario's [[checks]] ends as check_failed; with
    --check-invariants, so does the first event that breaks one of its [[invariants]].
    """
    from sim.scenario import load_scenario
    from sim.schedule import Schedule
    from sim.system import System

    try:
        sc = load_scenario(scenario)
        followed = Schedule.load(schedule) if schedule is not None else None
        system = System(sc, run_options(variant, cores, seed, sched, depth, quantum, memory_model, step_limit, param,
                                        max_burst=max_burst, pct_steps=pct_steps, check_invariants=check_invariants),
                        schedule=followed, save_schedule=save_schedule is not None, schedule_file=schedule or "")
        for name in show or []:
            system.read_symbol(name)  # unknown names fail before the run, not after
        outcome = system.run()
        memory = {name: system.read_symbol(name) for name in show or []}
        if save_schedule is not None:
            system.saved_schedule().save(save_schedule)
    except SimError as e:
        fail(str(e))
    result = outcome.as_dict()
    if json:
        print_json({**result, "memory": memory})
    else:
        render_outcome(result, memory)


def _register_commands() -> None:
    from . import (
        explore_commands,
        export_commands,
        hunt_commands,
        litmus_commands,
        lock_commands,
        query_commands,
        sql_commands,
        trace_commands,
    )

    trace_commands.register(app)
    litmus_commands.register(app)
    query_commands.register(app)
    sql_commands.register(app)
    lock_commands.register(app)
    hunt_commands.register(app)
    hunt_commands.register_demo(app)
    hunt_commands.register_hunt(app)
    export_commands.register(app)
    export_commands.register_timeline(app)
    explore_commands.register(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

