"""Exact re-execution of a recorded run to the state just after any event.

Replay restores the nearest checkpoint at or before the target, re-runs the simulator with a
`Verifier` observer that compares every re-executed event with the recorded row (the first
mismatch is a Divergence), stops right after the target event's instruction and reports the state:
per core the thread, pc with file:line, call stack and registers; and named memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import SimError
from sim.frames import stack_word_name
from sim.observer import FENCE, REL, WMB, WRITE
from sim.scenario import RunOptions, assemble_scenario, load_scenario, scenario_hash, validate_options
from sim.schedule import Schedule
from sim.snapshot_codec import SnapshotFormatError
from sim.system import System
from sim.thread import STATE_NAMES

from . import checkpoints
from .errors import Divergence, TraceError
from .happens_before import HappensBefore
from .recorder import ROW_FIELDS
from .run_dir import RunDir, meta_problems
from .schema import KIND_NAMES, MODE_NAMES, SCHEDULE_FILE
from .seq_arg import parse_seq


class Verifier:
    """An observer that checks each event against the recording and stops after the target."""

    def __init__(self, expected: list[tuple], first_seq: int, target: int, threads: int, location: str):
        self.expected = expected  # recorded rows first_seq..target, as ROW_FIELDS tuples
        self.seq = first_seq
        self.first = first_seq
        self.target = target
        self.hb = HappensBefore(threads)
        self.system = None
        self.location = location

    def attach(self, system) -> None:
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=0):
        seq = self.seq
        self.seq = seq + 1
        t = core.thread.tid
        sb = core.sb
        if sb is not None and sb.entries and not ((kind == WRITE and not atomic) or (kind == FENCE and mode == WMB)):
            # the first event of the core after a buffered release store that is not a drain (the
            # recorder's rule, tracer.trace_writer._issues): the store is issued for happens-before
            for e in sb.entries:
                if len(e) > 4 and e[0] >= 0 and e[3] == REL and not self.hb.is_issued(t, e[4]):
                    self.hb.issue(t, e[4], seq)
        clock = self.hb.event(kind, t, sync, seq, mode, addr, old, new)
        self.hb.changes.clear()
        row = (self.system.cycle, core.mid, core.index, t, site, kind, addr, old, new, clock, sync, bool(atomic),
               MODE_NAMES[mode])
        recorded = self.expected[seq - self.first]
        if row != recorded:
            raise Divergence(seq, _named(recorded), _named(row), self.location)
        if seq == self.target:
            self.system.stop_requested = True


def _named(row: tuple) -> dict:
    return dict(zip(ROW_FIELDS, row))


@dataclass
class CoreState:
    machine: str
    core: int
    thread: str | None
    pc: int | None = None
    file: str | None = None
    line: int | None = None
    function: str | None = None
    text: str | None = None
    stack: list[dict] = field(default_factory=list)  # callers, innermost first
    registers: dict[str, int] = field(default_factory=dict)
    preempt_count: int = 0
    store_buffer: list[dict] = field(default_factory=list)


@dataclass
class ReplayState:
    seq: int
    cycle: int
    instructions: int
    checkpoint_seq: int
    replayed_events: int
    event: dict  # the recorded row of event `seq`
    event_names: dict  # the same event's thread, machine, symbol and site, by name
    cores: list[CoreState]
    memory: dict[str, int]
    threads: dict[str, str]

    def as_dict(self) -> dict:
        from dataclasses import asdict
        return asdict(self)


def _open_system(run: RunDir, observer) -> System:
    meta = run.meta
    where = str(run.path)
    problems = meta_problems(meta, ("scenario", "seed", "options", "scenario_hash"))
    if problems:
        raise TraceError(f"cannot rebuild the recorded scenario: {problems[0]}", where)
    try:
        sc = load_scenario(meta["scenario"])
        o = meta.get("options", {})
        opts = validate_options(sc, RunOptions(
            variant=o.get("variant"), cores=o.get("cores"), seed=o.get("seed", meta["seed"]),
            sched=o.get("sched", "random"), depth=o.get("depth", 3), quantum=o.get("quantum", 8),
            memory_model=o.get("memory_model"), step_limit=o.get("step_limit"),
            params=tuple(sorted((o.get("params") or {}).items())),
            max_burst=o.get("max_burst"), pct_steps=o.get("pct_steps"),
            directives=tuple(tuple(d) for d in o.get("directives") or ())))
        image = assemble_scenario(sc, opts)
    except SimError as e:
        raise TraceError(f"cannot rebuild the recorded scenario: {e}", where) from None
    except (TypeError, ValueError, AttributeError) as e:  # options of the wrong shape
        raise TraceError(f"cannot rebuild the recorded scenario: meta.json's options are malformed "
                         f"({type(e).__name__}: {str(e)[:80]})", where) from None
    if scenario_hash(sc, image) != meta.get("scenario_hash"):
        raise TraceError(f"the scenario's sources changed since this run was recorded "
                         f"({meta['scenario']}); re-record it", where)
    schedule = None
    if meta.get("schedule_followed"):  # the run followed a schedule: replay follows the one it kept
        path = run.path / meta.get("schedule", SCHEDULE_FILE)
        try:
            schedule = Schedule.load(path)
        except SimError as e:
            raise TraceError(f"cannot read the run's schedule: {e}", where) from None
    try:
        return System(sc, opts, image=image, observer=observer, schedule=schedule, schedule_file=str(
            run.path / SCHEDULE_FILE))
    except SimError as e:
        raise TraceError(f"cannot rebuild the recorded run: {e}", where) from None


def resolve_seq(run: RunDir, to: int | str) -> int:
    """`--to`: a seq, `panic`, or `end` (the last event: a deadlocked run has no panic to name)."""
    meta = run.meta
    total = meta.get("events", 0)
    if meta.get("truncated") is not False or meta_problems(meta, ("events",)):
        total, _ = run.check_events()

    def panic() -> int | None:
        p = meta.get("panic")
        return int(p["seq"]) if isinstance(p, dict) and p.get("seq") is not None else None

    return parse_seq(to, what="--to", events=total, end=total - 1, panic=panic, outcome=meta.get("outcome"),
                     location=str(run.path))


def replay(run_dir: str | Path | RunDir, to: int | str, show: list[str] | tuple[str, ...] = ()) -> ReplayState:
    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    target = resolve_seq(run, to)
    index = checkpoints.load_index(run.path)
    ckpt = checkpoints.nearest(index, target)
    saved = checkpoints.load(run.path, ckpt)

    window = run.events_between(ckpt.seq, target)
    if window.num_rows != target - ckpt.seq + 1:
        readable, damaged = run.check_events()
        where = damaged[0].location if damaged else str(run.path)
        raise TraceError(f"seq {target} is not readable: the recording is damaged or truncated; "
                         f"{readable} events (0..{readable - 1}) are readable", where)
    cols = [window[name].to_pylist() for name in ("cycle", "machine", "core", "thread", "site")]
    code_of = {name: i for i, name in enumerate(KIND_NAMES)}
    kinds = [code_of[name] for name in window["kind"].to_pylist()]
    rest = [window[name].to_pylist() for name in ("addr", "old", "new", "clock", "sync", "atomic", "mode")]
    expected = list(zip(*cols, kinds, *rest))

    verifier = Verifier(expected, ckpt.seq, target, len(run.table("threads.parquet")), str(run.path))
    system = _open_system(run, verifier)
    ckpt_path = str(run.path / "checkpoints" / ckpt.file)
    try:
        system.restore(saved["system"])
    except SnapshotFormatError as e:
        raise TraceError(f"damaged checkpoint: {e}", ckpt_path) from None
    rec_seq, hb_state = saved["recorder"]
    try:
        verifier.hb.restore(hb_state)
    except (TypeError, ValueError, AttributeError, IndexError) as e:
        raise TraceError(f"damaged checkpoint: vector clocks unreadable ({type(e).__name__})",
                         ckpt_path) from None
    for name in show:
        system.check_symbol(name)
    system.run()
    if verifier.seq <= target:
        raise TraceError(f"replay ended (outcome {system.outcome.outcome if system.outcome else '?'}) "
                         f"before reaching seq {target}", str(run.path))
    return _state(system, run, target, ckpt.seq, verifier.seq - ckpt.seq, {**dict(zip(
        ("seq",) + ROW_FIELDS, (target,) + expected[-1])), "issued": window["issued"].to_pylist()[-1]}, show)


def _state(system: System, run: RunDir, seq: int, ckpt_seq: int, replayed: int, event: dict,
           show) -> ReplayState:
    image = system.image
    cores = []
    for core in system.cores:
        t = core.thread
        cs = CoreState(core.machine.name, core.index, t.name if t else None)
        if t is not None:
            code = core.machine.code
            cs.pc = t.pc
            if 0 <= t.pc < len(code):
                s = image.sites[code[t.pc].site]
                cs.file, cs.line, cs.function, cs.text = s.file, s.line, s.function, s.text
            for ret in reversed(t.calls):
                caller = image.sites[code[ret - 1].site] if 0 < ret <= len(code) else None
                if caller is not None:
                    cs.stack.append({"function": caller.function, "file": caller.file, "line": caller.line})
            cs.registers = {f"r{i}": v for i, v in enumerate(t.regs)}
            cs.preempt_count = t.preempt
        if core.sb is not None:
            for addr, value, *_ in (e for e in core.sb.entries if e[0] >= 0):  # not wmb markers
                sym = image.symbol_at(addr)
                cs.store_buffer.append({"addr": addr, "symbol": sym.name if sym else None, "value": value})
        cores.append(cs)
    memory = {name: system.read_symbol(name) for name in show}
    event = dict(event)
    event["kind"] = KIND_NAMES[event["kind"]]
    sym = image.symbol_at(event["addr"]) if event["addr"] >= 0 and event["kind"] not in ("send", "recv") else None
    site = image.sites[event["site"]] if 0 <= event["site"] < len(image.sites) else None
    symbol = sym.name if sym else None
    if image.stacks and event["kind"] in ("read", "write", "rmw"):  # a C local of a live frame
        symbol = stack_word_name(system, event["addr"]) or symbol
    names = {"thread": system.threads[event["thread"]].name, "machine": system.machines[event["machine"]].name,
             "symbol": symbol, "file": site.file if site else None,
             "line": site.line if site else None, "function": site.function if site else None,
             "text": site.text if site else None}
    threads = {t.name: ("running" if t.core >= 0 else _state_name(t)) for t in system.threads}
    return ReplayState(seq, system.cycle, system.instructions, ckpt_seq, replayed, event, names, cores, memory,
                       threads)


def _state_name(t) -> str:
    return t.blocked_on or STATE_NAMES[t.state]
