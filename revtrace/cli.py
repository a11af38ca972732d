"""The `revtrace` command line: parse, call one function below, render."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sim.errors import SimError
from sim.scenario import RunOptions, load_scenario

from .output import console, fail, print_json

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


# Options shared by every command that runs a scenario (run, record, sweep).
Scenario = Annotated[str, typer.Argument(help="A scenario folder, its scenario.toml, or a bundled scenario's name (e.g. race_counter).")]
Variant = Annotated[Optional[str], typer.Option("--variant", "-V", help="A named source substitution declared in the scenario (e.g. v1, v2).")]
Cores = Annotated[Optional[int], typer.Option("--cores", "-c", help="Cores of the scenario's primary machine (default: the scenario's).")]
Seed = Annotated[int, typer.Option("--seed", "-s", help="Seed of the scheduler and of the store-buffer drains.")]
Sched = Annotated[str, typer.Option("--sched", help="Scheduler: random, roundrobin or pct.")]
Depth = Annotated[int, typer.Option("--depth", "-d", help="PCT's bug depth d (d-1 priority change points).")]
Quantum = Annotated[int, typer.Option("--quantum", help="roundrobin: instructions per turn.")]
MemoryModel = Annotated[Optional[str], typer.Option("--memory-model", "-m", help="sc or tso (default: the scenario's).")]
StepLimit = Annotated[Optional[int], typer.Option("--step-limit", help="Stop after this many instructions (default: the scenario's).")]
Params = Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Override a scenario parameter: NAME=VALUE (repeatable).")]
Show = Annotated[Optional[list[str]], typer.Option("--show", help="Print this symbol's final value (repeatable), e.g. counter or page0.flags.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def parse_params(params: list[str] | None) -> tuple[tuple[str, int], ...]:
    out = []
    for p in params or []:
        name, eq, value = p.partition("=")
        if not eq or not name:
            fail(f"--param expects NAME=VALUE, got {p!r}")
        try:
            out.append((name.strip(), int(value, 0)))
        except ValueError:
            fail(f"--param {name}: expected an integer, got {value!r}")
    return tuple(out)


def run_options(variant, cores, seed, sched, depth, quantum, memory_model, step_limit, params) -> RunOptions:
    return RunOptions(variant=variant, cores=cores, seed=seed, sched=sched, depth=depth, quantum=quantum,
                      memory_model=memory_model, step_limit=step_limit, params=parse_params(params))


def render_outcome(result: dict, memory: dict[str, int]) -> None:
    outcome = result["outcome"]
    style = {"completed": "green", "panic": "bold red", "deadlock": "yellow", "step_limit": "yellow"}[outcome]
    console.print(f"outcome: [{style}]{outcome}[/{style}]")
    panic = result.get("panic")
    if panic:
        console.print(f"  panic: {panic['message']}", markup=False)
        console.print(f"  at {panic['file']}:{panic['line']} in {panic['function']}, thread {panic['thread']} "
                      f"on {panic['machine']} core {panic['core']}", markup=False)
    for line in result.get("blocked", []):
        console.print(f"  blocked: {line}", markup=False)
    console.print(f"instructions: {result['instructions']:,}   cycles: {result['cycles']:,}")
    for name, value in memory.items():
        console.print(f"  {name} = {value} ({value:#x})", markup=False)


@app.command()
def run(scenario: Scenario, variant: Variant = None, cores: Cores = None, seed: Seed = 0,
        sched: Sched = "random", depth: Depth = 3, quantum: Quantum = 8, memory_model: MemoryModel = None,
        step_limit: StepLimit = None, param: Params = None, show: Show = None, json: Json = False) -> None:
    """Run a scenario without recording and print its outcome."""
    from sim.system import System

    try:
        sc = load_scenario(scenario)
        system = System(sc, run_options(variant, cores, seed, sched, depth, quantum, memory_model, step_limit, param))
        for name in show or []:
            system.read_symbol(name)  # unknown names fail before the run, not after
        outcome = system.run()
        memory = {name: system.read_symbol(name) for name in show or []}
    except SimError as e:
        fail(str(e))
    result = outcome.as_dict()
    if json:
        print_json({**result, "memory": memory})
    else:
        render_outcome(result, memory)


def _register_commands() -> None:
    from . import hunt_commands, trace_commands

    trace_commands.register(app)
    hunt_commands.register(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

