"""Typed options shared by every command that runs a scenario (run, record, sweep, demo)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sim.scenario import RunOptions


from .output import console, fail

Scenario = Annotated[str, typer.Argument(help="A scenario folder, its scenario.toml, or a bundled scenario's name (e.g. race_counter).")]
Variant = Annotated[str | None, typer.Option("--variant", "-V", help="A named source substitution declared in the scenario (e.g. v1, v2).")]
Cores = Annotated[int | None, typer.Option("--cores", "-c", help="Cores of the scenario's primary machine (default: the scenario's).")]
Seed = Annotated[int, typer.Option("--seed", "-s", help="Seed of the scheduler and of the store-buffer drains.")]
Sched = Annotated[str, typer.Option("--sched", help="Scheduler: random, roundrobin, pct, pct-mc (PCT with change "
                                                 "points where cores overlap) or pos (partial order sampling).")]
MaxBurst = Annotated[int | None, typer.Option("--max-burst", help="random: bursts of 1..N instructions (default 32); "
                                                                   "small N switches cores more often.")]
PctSteps = Annotated[int | None, typer.Option("--pct-steps", help="PCT's k, the steps change points are drawn from "
                                                                   "(default: the scenario's pct_steps, else the "
                                                                   "measured length of the seed-0 run).")]
Depth = Annotated[int, typer.Option("--depth", "-d", help="PCT's bug depth d (d-1 priority change points).")]
Quantum = Annotated[int, typer.Option("--quantum", help="roundrobin: instructions per turn.")]
MemoryModel = Annotated[str | None, typer.Option("--memory-model", "-m", help="sc or tso (default: the scenario's).")]
StepLimit = Annotated[int | None, typer.Option("--step-limit", help="Stop after this many instructions (default: the scenario's).")]
Params = Annotated[list[str] | None, typer.Option("--param", "-p", help="Override a scenario parameter: NAME=VALUE (repeatable).")]
Show = Annotated[list[str] | None, typer.Option("--show", help="Print this symbol's final value (repeatable), e.g. counter or page0.flags, or a thread's register: THREAD:rN (e.g. P0:r1).")]
CheckInvariants = Annotated[bool, typer.Option(
    "--check-invariants", help="Evaluate the scenario's [[invariants]] after every write; a broken one ends the run "
                               "as check_failed (off by default: it costs time).")]
ScheduleFile = Annotated[str | None, typer.Option(
    "--schedule", help="Follow this schedule file (every scheduling decision, drains included) instead of "
                       "the scheduler and seed; a recording keeps its own as RUN/schedule.json.")]
SaveSchedule = Annotated[str | None, typer.Option(
    "--save-schedule", help="Write the run's schedule to this file (follow it again with --schedule).")]
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


def run_options(variant, cores, seed, sched, depth, quantum, memory_model, step_limit, params, **more) -> RunOptions:
    """`more`: further RunOptions fields (max_burst, pct_steps, check_invariants, ...)."""
    from sim.scenario import RunOptions

    return RunOptions(variant=variant, cores=cores, seed=seed, sched=sched, depth=depth, quantum=quantum,
                      memory_model=memory_model, step_limit=step_limit, params=parse_params(params), **more)


def render_outcome(result: dict, memory: dict[str, int]) -> None:
    outcome = result["outcome"]
    style = {"completed": "green", "panic": "bold red", "check_failed": "bold red"}.get(outcome, "yellow")
    console.print(f"outcome: [{style}]{outcome}[/{style}]")
    check = result.get("check")
    if check:
        console.print(f"  {check['kind']} failed: {check['name']}: {check['expr']}", markup=False)
        if "seq" in check:
            console.print(f"  at seq {check['seq']} (cycle {check['cycle']}), thread {check['thread']}", markup=False)
        values = ", ".join(f"{k} = {v}" for k, v in check["values"].items())
        if values:
            console.print(f"  values: {values}", markup=False)
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


