"""Shrinking a failing run to the preemptions that matter (delta debugging over its switch points).

A recording keeps its schedule (RUN/schedule.json). Following it once more, every core switch is
written down as a *directive* keyed by where the switching thread is in its own execution: "when
thread T has run k instructions, switch to thread U". A switch is a *preemption* when T could have
gone on (still on its core, not blocked, halted, spinning or time-sliced away); the others are
forced. A candidate schedule keeps the forced directives and the drains (same keys), and a subset
of the preemptions; between them every core runs on without preemption. ddmin (Zeller and
Hildebrandt, TSE 2002) searches the subsets for a 1-minimal one whose run fails the same way: same
outcome and the same panic site and message, failed check, or deadlock. The result is recorded
with its own schedule, so it replays byte for byte, and told as a short story of its preemptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from sim.errors import SimError
from sim.scenario import RunOptions, load_scenario, validate_options
from sim.schedule import Schedule
from sim.explorer import explore
from sim.scheduler import Scheduler
from sim.system import System

BURST = 64


class ShrinkError(SimError):
    """A run that cannot be shrunk (it did not fail, it has no schedule, ...)."""


def signature(outcome: dict) -> tuple:
    """What "fails the same way" compares: the outcome and where and how it failed."""
    kind = outcome.get("outcome")
    if kind == "panic":
        p = outcome.get("panic") or {}
        return (kind, p.get("file"), p.get("line"), p.get("message"))
    if kind == "check_failed":
        c = outcome.get("check") or {}
        return (kind, c.get("name"), c.get("kind"))
    return (kind,)


@dataclass
class Directive:
    thread: int  # tid of the thread that switches away
    count: int  # ... after it has run this many instructions
    target: int  # tid of the thread that runs next (-1: any)
    preemption: bool


class _Tracker(Scheduler):
    """Either follows a schedule (and writes its switches down as directives), or schedules from
    directives. One instruction counter per thread, attributed after each burst."""

    name = "shrink"
    controls_drains = True

    def __init__(self, system, player=None, directives=(), drains=None):
        self.system = system
        self.player = player
        self.counts = [0] * len(system.threads)
        self.at = None
        self.last_core = None
        self.last_thread = None
        self.switches: list[Directive] = []
        self.drain_log: dict[tuple[int, int], list[int]] = {}
        self.directives = {(d.thread, d.count): d for d in directives}
        self.drains = drains or {}
        self.fired: set = set()
        self.story: list[tuple] = []  # (preempted thread, where, next thread) as the run goes

    def _account(self) -> None:
        system = self.system
        if self.at is not None:
            done = system.instructions - self.at
            t = system.burst_thread
            if t is not None:
                self.counts[t.tid] += done
                self.last_thread = t
            self.at = None

    def _key(self):
        t = self.last_thread
        return None if t is None else (t.tid, self.counts[t.tid])

    def drain(self, system):
        self._account()
        key = self._key()
        if self.player is not None:
            done = self.player.drain(system)
            if done and key is not None:
                self.drain_log.setdefault(key, []).extend(c.gid for c in done)
            return done
        done = []
        if key is not None and key in self.drains and ("d", key) not in self.fired:
            self.fired.add(("d", key))
            for gid in self.drains[key]:
                core = system.cores[gid]
                if core.sb.entries:
                    core.sb.drain_one()
                    done.append(core)
        return done

    def pick(self, active, instructions):
        self._account()
        cur = self.last_core
        t = self.last_thread
        can_go_on = cur is not None and cur in active and cur.thread is t and not cur.spinning
        key = self._key()
        if self.player is not None:
            core, n = self.player.pick(active, instructions)
        else:
            core = None
            d = self.directives.get(key) if key is not None else None
            if d is not None and key not in self.fired and not (can_go_on and not d.preemption):
                self.fired.add(key)
                core = next((c for c in active if c.thread is not None and c.thread.tid == d.target), None)
            if core is None:
                if can_go_on:
                    core = cur
                else:
                    last = -1 if cur is None else cur.gid
                    turn = [c for c in active if c.gid > last] + [c for c in active if c.gid <= last]
                    core = next((c for c in turn if not c.spinning), turn[0])
            n = BURST
            if core.thread is not None:
                tid = core.thread.tid
                upcoming = [c - self.counts[tid] for (th, c) in self.directives if th == tid and c > self.counts[tid]]
                upcoming += [c - self.counts[tid] for (th, c) in self.drains if th == tid and c > self.counts[tid]]
                if upcoming:
                    n = min(n, min(upcoming))
        if cur is not None and core is not cur and t is not None:
            target = core.thread.tid if core.thread is not None else -1
            self.switches.append(Directive(t.tid, self.counts[t.tid], target, can_go_on))
            if can_go_on:
                self.story.append((t.name, self.system.describe_pc(t), core.thread.name if core.thread else "?"))
        self.last_core = core
        self.at = instructions
        return core, n

    def state(self):
        return 0

    def restore(self, state, threads=None):
        pass


@dataclass
class ShrinkResult:
    original_preemptions: int
    preemptions: int
    story: list[tuple]  # (preempted thread, where, next thread)
    outcome: dict
    tests: int
    seconds: float
    schedule: Schedule
    run_dir: str | None = None
    signature: tuple = field(default=())

    def story_text(self) -> str:
        n = self.preemptions
        head = f"{n} preemption{'s' if n != 1 else ''}"
        if not self.story:
            return head + ": the failure happens without any preemption"
        parts = [f"{who} is preempted at {where} and {nxt} runs" for who, where, nxt in self.story]
        return head + ": " + "; ".join(parts)

    def as_dict(self) -> dict:
        return {"original_preemptions": self.original_preemptions, "preemptions": self.preemptions,
                "story": [{"thread": a, "at": b, "next": c} for a, b, c in self.story], "text": self.story_text(),
                "outcome": self.outcome, "tests": self.tests, "seconds": round(self.seconds, 3),
                "run_dir": self.run_dir}


def options_from_meta(meta: dict) -> RunOptions:
    o = dict(meta.get("options") or {})
    names = {f.name for f in fields(RunOptions)}
    kw = {k: v for k, v in o.items() if k in names}
    kw["params"] = tuple(sorted((o.get("params") or {}).items()))
    return RunOptions(**kw)


def _run(sc, opts, tracker_args: dict, save: bool = False):
    system = System(sc, opts, save_schedule=save)
    tracker = _Tracker(system, **tracker_args)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    outcome = system.run()
    return system, tracker, outcome.as_dict()


def shrink_schedule(sc, opts, schedule: Schedule, *, progress: Callable[[dict], None] | None = None,
                    explore_bound: int = 3, max_states: int | None = 2_000_000) -> ShrinkResult:
    """Shrink a failing schedule of (scenario, options) to a 1-minimal set of preemptions.

    ddmin over the run's preemptions first. When the directives do not reproduce the failure
    (timers fire between other bursts than the original's) or still leave preemptions, the
    explorer (sim.explorer, delay bounding) then looks for the same failure with fewer, up to
    `explore_bound`; whichever needs fewer preemptions wins."""
    from sim.schedule import SchedulePlayer

    start = time.perf_counter()
    system = System(sc, opts)
    player = SchedulePlayer(schedule, system.cores, strict=True)
    tracker = _Tracker(system, player=player)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    outcome = system.run().as_dict()
    want = signature(outcome)
    if outcome["outcome"] in ("completed", "step_limit"):
        raise ShrinkError(f"the run did not fail (outcome: {outcome['outcome']}); nothing to shrink")
    preemptive = [d for d in tracker.switches if d.preemption]
    forced = [d for d in tracker.switches if not d.preemption]
    drains = tracker.drain_log
    tests = 0
    best = None

    def test(subset: list[Directive]) -> bool:
        nonlocal tests, best
        tests += 1
        system, tr, out = _run(sc, opts, {"directives": forced + subset, "drains": drains})
        ok = signature(out) == want
        if ok:
            used = len(tr.story)
            if best is None or used < best[0]:
                best = (used, list(subset))
        if progress is not None:
            progress({"tests": tests, "preemptions": len(subset), "best": None if best is None else best[0]})
        return ok

    if not test(preemptive):
        # the directives do not reproduce the run (timers fire between other bursts): fall back to
        # the failing schedule itself
        best = None
        current = None
    else:
        current = _ddmin(preemptive, test)
    final_schedule = schedule
    if best is not None:
        chosen = best[1] if best[0] <= (len(current) if current is not None else best[0]) else current
        system, tr, out = _run(sc, opts, {"directives": forced + chosen, "drains": drains}, save=True)
        final_schedule = system.saved_schedule()
    found = best[0] if best is not None else len(preemptive)
    if found > 0 and explore_bound:
        # the search from the other side: the fewest preemptions (and delays) that fail the same way
        res = explore(sc, opts, preemptions=min(found - 1, explore_bound), delays=True,
                      accept=lambda o: signature(o) == want, max_states=max_states)
        tests += res.total_explored
        if res.failure is not None:
            final_schedule = res.failure.schedule
    # the final schedule, followed and told
    system = System(sc, opts, schedule=final_schedule)
    player = system.scheduler
    tracker = _Tracker(system, player=player)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    out = system.run().as_dict()
    return ShrinkResult(len(preemptive), len(tracker.story), tracker.story, out, tests,
                        time.perf_counter() - start, final_schedule, signature=want)


def _ddmin(items: list, test: Callable[[list], bool]) -> list:
    """Zeller's ddmin: a 1-minimal sublist for which test holds (test(items) must hold)."""
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        subsets = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for s in subsets:
            if test(s):
                items, n, reduced = s, 2, True
                break
        if not reduced:
            for i in range(len(subsets)):
                complement = [x for j, s in enumerate(subsets) if j != i for x in s]
                if test(complement):
                    items, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    if len(items) == 1 and test([]):
        return []
    return items


def shrink_run(run_dir: str | Path, out: str | Path, *, force: bool = False,
               progress: Callable[[dict], None] | None = None) -> ShrinkResult:
    """Shrink the failing recording `run_dir` and record the result to `out`."""
    import tracer
    from tracer.run_dir import RunDir

    run = RunDir.open(run_dir)
    meta = run.meta
    path = run.path / meta.get("schedule", "schedule.json")
    if not path.is_file():
        raise ShrinkError("the run has no schedule.json (recorded by an older revtrace): record it again",
                          str(run.path))
    schedule = Schedule.load(path)
    sc = load_scenario(meta["scenario"])
    opts = validate_options(sc, options_from_meta(meta))
    result = shrink_schedule(sc, opts, schedule, progress=progress)
    rec = tracer.record(sc, out, force=force, options=opts, schedule=result.schedule)
    result.run_dir = str(rec.path)
    return result
