"""`revtrace record` and `revtrace replay`."""

from __future__ import annotations

from typing import Annotated

import typer

from sim.errors import SimError
from tracer.errors import Divergence, TraceError

from . import options as cli
from .output import console, err_console, fail, print_json, print_table

CheckpointEvery = Annotated[int | None, typer.Option(
    "--checkpoint-every", help="Instructions between checkpoints (default 100000: replay to any point in well under 0.2 s).")]
Out = Annotated[str, typer.Option("--out", "-o", help="The run directory to write.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing run directory.")]


def recording_progress(enabled: bool):
    """A progress bar on stderr while recording (instructions against the step limit, events)."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("recording"), BarColumn(), TextColumn("{task.completed:,} instructions"),
                        TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(),
                        console=err_console.rich, transient=True)
    return progress, progress


def record_run(scenario, out, force, checkpoint_every, options, show: list[str], show_progress: bool,
               schedule=None):
    import tracer

    progress, ctx = recording_progress(show_progress)
    if progress is None:
        return tracer.record(scenario, out, force=force, checkpoint_every=checkpoint_every, options=options,
                             show=show, schedule=schedule)
    with ctx:
        task = progress.add_task("record", total=options.step_limit, events=0)

        def report(instructions: int, events: int) -> None:
            progress.update(task, completed=instructions, events=events)

        from sim.scenario import load_scenario, validate_options

        sc = load_scenario(scenario)
        opts = validate_options(sc, options)
        progress.update(task, total=opts.step_limit)
        return tracer.record(sc, out, force=force, checkpoint_every=checkpoint_every, options=opts,
                             progress=report, show=show, schedule=schedule)


def interrupted_message(out: str) -> str:
    """What an interrupted recording kept (its meta says truncated, with the events written)."""
    from tracer.run_dir import RunDir

    try:
        events = int(RunDir.open(out).meta.get("events", 0))
    except (TraceError, ValueError, TypeError):
        return "interrupted"
    return f"interrupted; the first {events:,} events are kept in {out} (meta says truncated)"


def register(app: typer.Typer) -> None:
    @app.command()
    def record(scenario: cli.Scenario, out: Out, variant: cli.Variant = None, cores: cli.Cores = None,
               seed: cli.Seed = 0, sched: cli.Sched = "random", depth: cli.Depth = 3, quantum: cli.Quantum = 8,
               memory_model: cli.MemoryModel = None, step_limit: cli.StepLimit = None, param: cli.Params = None,
               checkpoint_every: CheckpointEvery = None, force: Force = False, show: cli.Show = None,
               max_burst: cli.MaxBurst = None, pct_steps: cli.PctSteps = None, schedule: cli.ScheduleFile = None,
               json: cli.Json = False) -> None:
        """Run a scenario with the recorder attached and write a run directory.

        Every memory access, lock operation, message and context switch on every core becomes an
        event in RUN/events/*.arrows; checkpoints let `replay` reach any event quickly. A run whose
        machine panics is a successful recording whose outcome is `panic`. The run's schedule is
        kept as RUN/schedule.json: `--schedule RUN/schedule.json` records the same run again.
        """
        options = cli.run_options(variant, cores, seed, sched, depth, quantum, memory_model, step_limit, param,
                                  max_burst=max_burst, pct_steps=pct_steps)
        try:
            run = record_run(scenario, out, force, checkpoint_every, options, show or [], show_progress=not json,
                             schedule=schedule)
        except (SimError, TraceError) as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail(interrupted_message(out), code=130)
        meta = run.meta
        result = {"outcome": meta["outcome"], "instructions": meta["instructions"], "cycles": meta["cycles"]}
        if meta.get("panic"):
            result["panic"] = meta["panic"]
        if meta["outcome"] == "deadlock":
            result["blocked"] = meta.get("blocked", [])
        if json:
            print_json({**result, "memory": run.meta.get("memory", {}), "run_dir": str(run.path), "events": meta["events"]})
        else:
            cli.render_outcome(result, run.meta.get("memory", {}))
            console.print(f"recorded {meta['events']:,} events to {run.path}", markup=False)

    @app.command()
    def replay(run_dir: Annotated[str, typer.Argument(help="A run directory written by `revtrace record`.")],
               to: Annotated[str, typer.Option("--to", help="The event to stop after: a seq, `panic`, or `end` (the last event).")],
               show: cli.Show = None, json: cli.Json = False) -> None:
        """Re-execute a recorded run exactly, to the state just after event SEQ.

        Restores the nearest checkpoint, re-runs from it checking every event against the
        recording (a mismatch is a divergence: exit code 1), and prints each core's thread, pc,
        call stack and registers. Step backwards by replaying to SEQ-1.
        """
        import tracer

        try:
            state = tracer.replay(run_dir, to, show=show or [])
        except Divergence as d:
            if json:
                print_json({"divergence": {"seq": d.seq, "recorded": d.recorded, "replayed": d.replayed}})
            err_console.print(f"revtrace: {d}", markup=False, soft_wrap=True)
            raise SystemExit(1) from None
        except (SimError, TraceError) as e:
            fail(str(e))
        if json:
            print_json(state.as_dict())
            return
        ev, names = state.event, state.event_names
        console.print(f"state after seq {state.seq} (cycle {state.cycle:,}, instruction {state.instructions:,}); "
                      f"re-executed {state.replayed_events} events from the checkpoint at seq "
                      f"{state.checkpoint_seq}, all matching the recording", markup=False)
        what = ev["kind"]
        if names["symbol"] or ev["addr"] >= 0 and ev["kind"] in ("read", "write", "rmw"):
            what += f" {names['symbol'] or hex(ev['addr'])} {ev['old']:#x} -> {ev['new']:#x}"
        where = f" at {names['file']}:{names['line']} ({names['function']})" if names["file"] else ""
        console.print(f"event {state.seq}: {what} by {names['thread']} on {names['machine']} core "
                      f"{ev['core']}{where}", markup=False)
        rows = []
        for c in state.cores:
            where = f"{c.file}:{c.line} {c.function}" if c.file else ""
            stack = " <- ".join(f"{f['function']} ({f['file']}:{f['line']})" for f in c.stack)
            # replay stops inside the event's instruction: that core is still on it; the others
            # are on the instruction they run next
            on = "the event's" if (c.machine, c.core) == (names["machine"], ev["core"]) and c.thread else "next"
            rows.append((f"{c.machine}:{c.core}", c.thread or "(idle)", on if c.thread else "", where,
                         c.text or "", stack, c.preempt_count))
        print_table("cores", ["core", "thread", "instruction", "at", "text", "called from", "preempt"], rows)
        for c in state.cores:
            regs = " ".join(f"{k}={v:#x}" for k, v in c.registers.items() if v)
            if c.thread:
                console.print(f"  {c.machine}:{c.core} {c.thread}: {regs or 'all registers 0'}", markup=False)
        for name, value in state.memory.items():
            console.print(f"  {name} = {value} ({value:#x})", markup=False)

