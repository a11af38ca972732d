"""Recording a run: the simulator with the Recorder attached, checkpoints, and the run directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa

from sim.scenario import (
    RunOptions,
    Scenario,
    assemble_scenario,
    effective_cores,
    load_scenario,
    scenario_hash,
    validate_options,
)
from sim.schedule import Schedule, ScheduleText
from sim.system import System
from sim.thread import check_shown

from . import schema, writer_process
from .errors import TraceError
from .recorder import Recorder
from .run_dir import RunDir
from .trace_writer import TraceWriter

TOOL_VERSION = "0.1.0"
# Replay re-executes at roughly a million instructions per second; 100k keeps replay to any
# point well under 0.2 s (rr checkpoints about every 0.5 s of replay).
DEFAULT_CHECKPOINT_EVERY = 100_000
FLUSH_EVERY = 65_536  # instructions between batches written (and progress reports)


def record(scenario: str | Path | Scenario, out: str | Path, *, force: bool = False,
           checkpoint_every: int | None = None, progress: Callable[[int, int], None] | None = None,
           options: RunOptions | None = None, show: list[str] | tuple[str, ...] = (),
           background: bool | None = None, schedule=None, **option_fields) -> RunDir:
    """Run `scenario` with the recorder attached and write the run directory `out`.

    Options are a RunOptions or its fields as keywords (variant, cores, seed, sched, depth, quantum,
    memory_model, step_limit, params). Returns the finished RunDir; its meta holds the outcome, and
    `meta["memory"]` the final value of each symbol named in `show`. `background`: write the
    files from a process of its own (tracer.writer_process) while the simulator runs; by default
    when the machine has a core to spare. The files are the same either way.

    Every recording keeps its schedule, `RUN/schedule.json` (sim.schedule). `schedule` (a Schedule
    or a schedule file) is followed instead of the options' scheduler and seed.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    opts = validate_options(sc, (options or RunOptions()).with_(**option_fields))
    every = DEFAULT_CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every
    if every < 1:
        raise TraceError(f"--checkpoint-every must be positive, got {every}")
    image = assemble_scenario(sc, opts)  # bad sources and names fail before anything is written
    schedule_where = "<schedule>"
    if schedule is not None and not isinstance(schedule, Schedule):
        schedule_where = str(schedule)
        schedule = Schedule.load(schedule)
    for name in show:
        check_shown([t.name for t in sc.threads], image, name)
    cores = core_layout(sc, opts)
    names = [f"{sc.machines[m].name}:{c}" for m, c in cores]  # sim.schedule.core_names
    if schedule is not None:
        schedule.check_fits(names, opts.memory_model, schedule_where)
    run = RunDir.create(out, force=force)

    meta = {
        "schema_version": schema.SCHEMA_VERSION,
        "tool_version": TOOL_VERSION,
        "scenario": str(sc.folder.resolve()),
        "scenario_name": sc.name,
        "scenario_hash": scenario_hash(sc, image),
        "variant": opts.variant,
        "seed": opts.seed,
        "sched": "schedule" if schedule is not None else opts.sched,
        "schedule": schema.SCHEDULE_FILE,
        "schedule_followed": schedule is not None,
        "depth": opts.depth,
        "memory_model": opts.memory_model,
        "options": {**asdict(opts), "params": dict(opts.params),
                    "directives": [list(d) for d in opts.directives]},
        "machines": [m.name for m in sc.machines],
        "cores": effective_cores(sc, opts),
        "threads": [t.name for t in sc.threads],
        "ports": dict(sc.ports),  # port name -> machine, in port id order (send/recv's addr)
        "checkpoint_every": every,
        "invariants": list(sc.invariants),
        "orderings": list(sc.orderings),
        "locksets": list(sc.locksets),
        "outcome": "recording",
        "panic": None,
        "instructions": 0,
        "cycles": 0,
        "events": 0,
        "truncated": True,  # until the recording finishes: a killed recorder leaves this true
    }
    run.write_meta(meta)  # first, so that even a crashed recording is recognisably a run
    writer = TraceWriter(run, cores, len(sc.threads), [t.tid for t in sc.threads if t.start],
                         ScheduleText(names, opts.memory_model))
    if background is None:
        background = writer_process.available()
    if background:
        # forked before the simulator is built: its objects are then this process's own pages, not
        # pages shared copy-on-write with the writer that the run would copy one fault at a time
        try:
            writer = writer_process.WriterProcess(writer)
        except OSError:  # no process to be had (a process limit, memory): write in this one
            pass
    recorder = Recorder()
    try:
        system = System(sc, opts, image=image, observer=recorder, schedule=schedule, save_schedule=True,
                        schedule_file=schedule_where)
    except BaseException:
        writer.abandon()
        raise
    if [(c.mid, c.index) for c in system.cores] != cores:  # (core_layout follows System's order)
        writer.abandon()
        raise TraceError("internal error: the recording's cores differ from the system's", str(run.path))
    log = system.schedule_log
    try:
        writer.tables(dimension_tables(sc, image))
        writer.checkpoint(0, system.cycle, system.instructions, system.snapshot_state())
        next_checkpoint = every
        while True:
            pause = min(next_checkpoint, system.instructions + FLUSH_EVERY)
            outcome = system.run(pause_at=pause)
            recorder.hand_over(writer)  # a SIGKILL from here on loses nothing before this point
            writer.steps(log.take())
            if progress is not None:
                progress(system.instructions, recorder.seq)
            if outcome is not None:
                break
            if system.instructions >= next_checkpoint:
                writer.checkpoint(recorder.seq, system.cycle, system.instructions, system.snapshot_state())
                next_checkpoint = system.instructions + every
        writer.schedule(system.instructions, outcome.outcome)
        writer.tables([frames_table(recorder.frames)])
        events = writer.close()
    except BaseException as e:
        # disk full, permission lost, Ctrl-C: keep what was written readable and say so
        try:
            recorder.hand_over(writer)
            writer.tables([frames_table(recorder.frames)])
        except Exception:
            pass
        written = writer.abandon()
        try:
            system.saved_schedule().save(run.path / schema.SCHEDULE_FILE)  # the decisions up to here
        except Exception:
            pass
        meta.update(events=written, instructions=system.instructions, cycles=system.cycle,
                    error=str(e) or type(e).__name__)
        try:
            run.write_meta(meta)
        except TraceError:
            pass
        raise
    result = outcome.as_dict()
    panic = result.get("panic")
    if panic is not None:
        panic["seq"] = recorder.panic_seq
    meta.update(outcome=outcome.outcome, panic=panic, instructions=outcome.instructions, cycles=outcome.cycles,
                events=events, truncated=False, blocked=result.get("blocked", []), cycle=result.get("cycle", []),
                memory={name: system.read_symbol(name) for name in show})
    run.write_meta(meta)
    return run


def core_layout(sc: Scenario, opts: RunOptions) -> list[tuple[int, int]]:
    """(machine, core on it) per global core number, as System numbers them."""
    counts = effective_cores(sc, opts)
    return [(mi, ci) for mi, m in enumerate(sc.machines) for ci in range(counts[m.name])]


def dimension_tables(sc: Scenario, image) -> list[tuple[str, pa.Schema, dict]]:
    """symbols, bits, sites and threads: (file name, schema, columns) for TraceWriter.tables."""
    syms = image.symbols
    initial_of = {}
    for mc in image.machines.values():
        initial_of.update(mc.initial)
    tables = []
    tables.append(("symbols.parquet", schema.SYMBOLS, {
        "addr": [s.addr for s in syms], "name": [s.name for s in syms], "object": [s.object for s in syms],
        "field": [s.field for s in syms], "size": [s.size for s in syms], "machine": [s.machine for s in syms],
        "initial": [initial_of.get(s.addr, 0) for s in syms]}))
    bits = sorted(image.bits.items(), key=lambda kv: (kv[1], kv[0]))
    tables.append(("bits.parquet", schema.BITS, {"name": [b[0] for b in bits], "bit": [b[1] for b in bits]}))
    sites = image.sites
    tables.append(("sites.parquet", schema.SITES, {
        "site": list(range(len(sites))), "machine": [s.machine for s in sites], "pc": [s.pc for s in sites],
        "file": [s.file for s in sites], "line": [s.line for s in sites], "col": [s.col for s in sites],
        "function": [s.function for s in sites], "label": [s.label for s in sites], "text": [s.text for s in sites]}))
    tables += frame_layout_tables(image)
    threads = sc.threads
    tables.append(("threads.parquet", schema.THREADS, {
        "thread": [t.tid for t in threads], "name": [t.name for t in threads],
        "machine": [t.machine for t in threads], "kind": [t.kind for t in threads],
        "entry": [t.entry for t in threads]}))
    return tables


def frame_layout_tables(image) -> list[tuple[str, pa.Schema, dict]]:
    """frame_words and frame_sites: the words of every C frame by name, and the instructions that
    access their own frame directly ([sp + k], sp = r15), whose word the site alone names."""
    from sim.isa import Mem
    words: dict[str, list] = {f.name: [] for f in schema.FRAME_WORDS}
    sites: dict[int, tuple[int, str]] = {}
    for machine, frames in sorted(image.frames.items()):
        code = image.machines[machine].code
        for function, lo, hi, size, names in frames:
            for offset, name in names:
                for key, value in zip(words, (machine, function, lo, hi, size, offset, name)):
                    words[key].append(value)
            by_offset = dict(names)
            for pc in range(lo, min(hi, len(code))):
                ins = code[pc]
                for a in ins.args:
                    if isinstance(a, Mem) and a.base == 15 and a.disp in by_offset:
                        sites.setdefault(ins.site, (a.disp, f"{function}.{by_offset[a.disp]}"))
    ordered = sorted(sites.items())
    return [("frame_words.parquet", schema.FRAME_WORDS, words),
            ("frame_sites.parquet", schema.FRAME_SITES, {
                "site": [s for s, _ in ordered], "off": [o for _, (o, _n) in ordered],
                "name": [n for _, (_o, n) in ordered]})]


def frames_table(frames: list[tuple[int, int, int, int]]) -> tuple[str, pa.Schema, dict]:
    """frames.parquet: the C frames entered and left (sim.compiler's enter / leave, recorded)."""
    cols = list(zip(*frames)) if frames else [[], [], [], []]
    return ("frames.parquet", schema.FRAMES, {"cycle": list(cols[0]), "base": list(cols[1]),
                                              "site": list(cols[2]), "entered": [bool(e) for e in cols[3]]})
