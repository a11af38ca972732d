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
from bisect import bisect_right
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

    def __init__(self, system, player=None, directives=(), drains=None, tell: bool = False):
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
        due: dict[int, set] = {}  # per thread, the counts at which a directive or drain is due
        for th, c in list(self.directives) + list(self.drains):
            due.setdefault(th, set()).add(c)
        self.due = {th: sorted(cs) for th, cs in due.items()}
        self.story: list[tuple] = []  # (preempted thread, where, next thread) as the run goes
        self.last_pc: list[int] | None = None
        if tell:
            self._watch_pcs()

    def _watch_pcs(self) -> None:
        """Note, per core, the pc of every instruction as it starts (each compiled instruction
        wrapped), so that a story can name the last one a preempted thread ran: its pc after the
        burst is already the next one's. Only the run that is told pays for this."""
        self.last_pc = last = [-1] * len(self.system.cores)

        def wrap(functions, gid, pc):
            def noted(*args):
                last[gid] = pc
                # looked up each time: compiled lazily, a chunk's functions replace their stubs there
                return functions[pc](*args)
            return noted

        for core in self.system.cores:
            core.code = [wrap(core.code, core.gid, pc) for pc in range(len(core.code))]

    def _where(self, core, t) -> str:
        """Where `t` is: after the last instruction it ran on `core` (C function, file:line), when
        the pcs are watched, else at its next one."""
        system = self.system
        pc = self.last_pc[core.gid] if self.last_pc is not None else -1
        if pc < 0:
            return "at " + system.describe_pc(t)
        s = system.image.sites[system.machines[t.machine].code[pc].site]
        return f"after {s.function} {s.file}:{s.line}"

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
                due = self.due.get(tid)
                if due:  # end the burst at the thread's next due point
                    i = bisect_right(due, self.counts[tid])
                    if i < len(due):
                        n = min(n, due[i] - self.counts[tid])
        if cur is not None and core is not cur and t is not None:
            target = core.thread.tid if core.thread is not None else -1
            self.switches.append(Directive(t.tid, self.counts[t.tid], target, can_go_on))
            if can_go_on:
                where = self._where(cur, t) if self.last_pc is not None else ""
                self.story.append((t.name, where, core.thread.name if core.thread else "?"))
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
        parts = [f"{who} is preempted {where} and {nxt} runs" for who, where, nxt in self.story]
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


class _Candidates:
    """Runs candidate schedules on one System, restored to its unbooted state each time (building
    a System compiles every core's code, which costs more than the run itself), with a step
    limit: a candidate still running at several times the failing run's length has diverged and
    will not fail the same way."""

    def __init__(self, sc, opts, image, limit: int):
        self.system = System(sc, opts, image=image)
        self.system.step_limit = min(self.system.step_limit, limit)
        self.fresh = self.system.snapshot_state()

    def run(self, tracker_args: dict):
        system = self.system
        system.restore_state(self.fresh)
        tracker = _Tracker(system, **tracker_args)
        system.scheduler = tracker
        system._decide = system._decide_hooked
        outcome = system.run()
        return tracker, outcome.as_dict()


def _run(sc, opts, image, tracker_args: dict, save: bool = False):
    system = System(sc, opts, image=image, save_schedule=save)
    tracker = _Tracker(system, **tracker_args)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    outcome = system.run()
    return system, tracker, outcome.as_dict()


def shrink_schedule(sc, opts, schedule: Schedule, *, progress: Callable[[dict], None] | None = None,
                    explore_bound: int = 3, max_states: int | None = 2_000_000) -> ShrinkResult:
    """Shrink a failing schedule of (scenario, options) to as few preemptions as fail the same way.

    Cheapest first, each step only when the one before left preemptions:
    1. the run without any of its preemptions, then with each one alone (most bugs need one or
       two, CHESS's observation): as many runs as preemptions;
    2. the explorer (sim.explorer, delay bounding) from the other side, bounds 0, 1, ... up to
       `explore_bound` or one fewer than found so far: its first failure that fails the same way
       has the fewest preemptions and delays (every smaller bound was searched whole);
    3. if it found none within `max_states`, ddmin over the preemptions.
    Candidates run on one System restored each time and stop once they run three times as long
    as the failing run (they have diverged)."""
    from sim.scenario import assemble_scenario
    from sim.schedule import SchedulePlayer

    start = time.perf_counter()
    image = assemble_scenario(sc, opts)  # once: compiling C sources costs far more than a run
    system = System(sc, opts, image=image)
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
    best = None  # (preemptions its run had, the subset of directives)
    candidates = _Candidates(sc, opts, image, 3 * system.instructions + 1000)

    def test(subset: list[Directive]) -> bool:
        nonlocal tests, best
        tests += 1
        tr, out = candidates.run({"directives": forced + subset, "drains": drains})
        ok = signature(out) == want
        if ok:
            used = len(tr.story)
            if best is None or used < best[0]:
                best = (used, list(subset))
        if progress is not None:
            progress({"tests": tests, "preemptions": len(subset), "best": None if best is None else best[0]})
        return ok

    # 1. none, or one alone; the directives may not reproduce the run at all (timers fire
    # between other bursts than the recorded run's): the explorer still can
    if test(preemptive):
        _few(preemptive, test)
    found = best[0] if best is not None else len(preemptive)
    final_schedule = schedule
    if best is not None and best[0] < len(preemptive):
        final_schedule = _saved(sc, opts, image, forced + best[1], drains)
    # 2. the explorer, below what was found
    failure = None
    if found > 0 and explore_bound:
        res = explore(sc, opts, preemptions=min(found - 1, explore_bound), delays=True, image=image,
                      accept=lambda o: signature(o) == want, max_states=max_states, progress=progress)
        tests += res.total_explored
        failure = res.failure
        if failure is not None:
            final_schedule = failure.schedule
    # 3. ddmin, when neither found few
    if failure is None and found > 1 and best is not None:
        _ddmin(preemptive, test)
        if best[0] < found:
            final_schedule = _saved(sc, opts, image, forced + best[1], drains)
    # the final schedule, followed and told
    system = System(sc, opts, image=image, schedule=final_schedule)
    player = system.scheduler
    tracker = _Tracker(system, player=player, tell=True)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    out = system.run().as_dict()
    return ShrinkResult(len(preemptive), len(tracker.story), tracker.story, out, tests,
                        time.perf_counter() - start, final_schedule, signature=want)


def _saved(sc, opts, image, directives: list[Directive], drains) -> Schedule:
    """The schedule of the run that follows these directives, as a schedule file's steps."""
    system, _, _ = _run(sc, opts, image, {"directives": directives, "drains": drains}, save=True)
    return system.saved_schedule()


def _few(items: list, test: Callable[[list], bool]) -> list | None:
    """The cheap pass before ddmin: no preemption at all, then each one alone (most bugs need one
    or two, CHESS's observation; a failure that needs one is then found in len(items) runs,
    where ddmin on a fragile run can take thousands)."""
    if test([]):
        return []
    return next(([x] for x in items if test([x])), None)


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
