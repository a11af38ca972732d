"""Systematic exploration: every schedule with at most K preemptions, each distinct one once.

`explore(scenario, options, preemptions=K)` enumerates the schedules of a scenario as a depth-first
search over the simulator's states (CHESS, Musuvathi & Qadeer, PLDI 2007):

- **Steps.** A transition runs one core up to and including its next visible instruction (one the
  observer reports: a load, store, atomic, lock operation, fence, message, spawn, wake, halt; under
  x86-TSO also a store entering the store buffer, after which a drain may come), or, under
  x86-TSO, drains the oldest store of one core's store buffer (a drain is a choice of the
  memory system, never a preemption). Instructions that only touch registers commute with every
  other core's and are run with the next visible one.
- **Preemptions.** Switching from the core that ran last to another is a preemption when the last
  core could have gone on: its thread is still on it, it is not spin-waiting (`pause`, a contended
  `spin_lock`) and it did not block, halt or lose its core at the end of a time slice. Iterative
  preemption bounding: all schedules with 0 preemptions, then 1, ... up to K, so the first failure
  found has the fewest preemptions possible.
- **Partial-order reduction by state caching.** Two schedules that only reorder independent
  accesses reach the same system state; the search explores a state once per (state, core that ran
  last) with the largest preemption budget left, and cuts every later arrival there (`pruned`).
  This is CHESS's state caching (sound with preemption bounding because the budget is part of
  the key), stronger than sleep sets: it also merges schedules that differ but converge.
  A state is identified by a 64-bit hash of memory, registers, call stacks, store buffers, run
  queues, messages and timers (times relative to now, so that a spin loop that read the same value
  returns to the same state).
- **Sleep sets** (Godefroid 1996), in unbounded searches only (`final_states`, `litmus
  --exhaustive`): after a node's child t is explored, a later sibling u that commutes with t (other
  cores, no word one writes and the other touches, nothing but plain accesses: no lock, message,
  wake-up, block, spin, timer or time-slice tick) does not take t again; the result counts them as
  `slept`. With state caching, a state is cut only if it was explored with no more transitions
  asleep. Bounded passes leave them out: the commuted order a sleep set relies on may need more
  preemptions than the bound (Coons, Musuvathi and McKinley, OOPSLA 2013, "Bounded partial-order
  reduction"), so there state caching alone does the reduction.
- **Delay bounding** (`delays=True`; Emmi, Qadeer and Rakamaric, POPL 2011). When the last core
  cannot go on, every other core is a free choice under preemption bounding, so a run with
  hundreds of blocking points (the NFS case sleeps and waits for messages all the time) has
  exponentially many schedules even with no preemption. With `delays`, such a forced switch goes
  to the next core in turn for free and to any other for one unit of the bound, like a preemption:
  the bounded schedules are then polynomially many in the run's length, a subset of those with
  at most K preemptions. With no bound both modes explore everything.
- **Spinning.** A core that has just spun (executed `pause` or failed a `spin_lock`) does not run
  again until another core has, when another can: spinning changes nothing until someone else
  acts. Switching away from it is free.

The result counts `explored` schedules (runs that reached their end), `pruned` transitions (into
states already explored), `bounded` ones (over the preemption bound) and `states`. A failure is
an outcome other than `completed` and `step_limit` (a panic, a deadlock, a failed check); the
result then carries its schedule (sim.schedule), which `run`/`record --schedule` re-execute.

`final_states(scenario, options, key)` is the exhaustive mode (no preemption bound): the set of
`key(system)` over the end states of all schedules, for instance every final register and memory
value of a litmus test. With no bound the reduction keeps every reachable end state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .observer import READ, RMW, SWITCH, WRITE
from .scenario import RunOptions, Scenario, load_scenario
from .schedule import DRAIN, Schedule, core_names
from .scheduler import Scheduler

NOT_FAILURES = ("completed", "step_limit")
MAX_LOCAL = 100_000  # invisible instructions in one transition before it is cut (a register-only loop)


@dataclass
class Failure:
    outcome: dict  # Outcome.as_dict() of the failing run
    schedule: Schedule  # re-executes it (System(schedule=...), `--schedule`)
    preemptions: int


@dataclass
class ExploreResult:
    preemptions: int  # the bound of the last pass
    explored: int  # schedules run to their end (in the last pass)
    pruned: int  # transitions into states already explored with as much budget (the reduction)
    bounded: int  # transitions not taken: they would exceed the preemption bound
    states: int  # distinct (state, last core) explored
    seconds: float
    failure: Failure | None = None
    cut: int = 0  # schedules ended by the step limit
    passes: list[dict] = field(default_factory=list)  # per bound 0..K: explored, pruned, bounded, states
    final_states: set | None = None
    stopped: str | None = None  # why the search stopped early (max_states), else None
    slept: int = 0  # transitions not taken by the sleep sets (unbounded searches only)

    @property
    def total_explored(self) -> int:
        return sum(p["explored"] for p in self.passes)

    def as_dict(self) -> dict:
        d = {"preemptions": self.preemptions, "explored": self.explored, "pruned": self.pruned, "slept": self.slept,
             "bounded": self.bounded, "states": self.states, "cut": self.cut, "seconds": round(self.seconds, 3),
             "passes": self.passes, "failure": None, "stopped": self.stopped}
        if self.failure is not None:
            d["failure"] = {"outcome": self.failure.outcome, "preemptions": self.failure.preemptions,
                            "schedule_steps": len(self.failure.schedule.steps)}
        return d


class _Visible:
    """The observer: counts the reports that make an instruction visible to other cores and, for
    sleep sets, notes what a transition touched (`reads`, `writes` as (machine, addr), and
    `other`: anything but a plain memory access)."""

    def __init__(self):
        self.seen = 0
        self.reads: set = set()
        self.writes: set = set()
        self.other = False

    def attach(self, system) -> None:
        pass

    def event(self, kind, core, addr=0, *rest) -> None:
        if kind != SWITCH:
            self.seen += 1
        if kind == READ:
            self.reads.add((core.mid, addr))
        elif kind == WRITE:
            self.writes.add((core.mid, addr))
        elif kind == RMW:
            self.reads.add((core.mid, addr))
            self.writes.add((core.mid, addr))
        else:
            self.other = True


@dataclass(frozen=True)
class _Footprint:
    """What one transition did, to tell whether two commute: its core, the words it read and
    wrote, and whether it did anything else (a lock, message, wake-up, block, spin, timer,
    time-slice tick, the run's end): then it is taken to depend on every other transition."""

    core: int
    reads: frozenset
    writes: frozenset
    other: bool

    def independent(self, o: _Footprint) -> bool:
        return not (self.other or o.other or self.core == o.core or self.writes & (o.reads | o.writes)
                    or o.writes & self.reads)


class _Controller(Scheduler):
    """The explorer's scheduler: runs the core it was told to, one instruction per decision."""

    name = "explore"
    controls_drains = True

    def __init__(self):
        self.next = None

    def drain(self, system):
        return ()

    def pick(self, active, instructions):
        return self.next, 1

    def state(self):
        return 0

    def restore(self, state, threads=None):
        pass


def _memory_plan(system) -> list[list[tuple]]:
    """Per machine, the parts of memory the state key covers: everything but the C threads'
    stacks, and of each stack only its live part [sp, top). The dead part below sp holds what
    returned frames left, which well-defined C never reads before writing it, so two states that
    differ only there continue alike; leaving it out makes the key several times cheaper (stacks
    are most of memory: 8,192 of the NFS model's 8,497 words per machine). A thread's stack on
    another machine than its own is never used."""
    stacks = system.image.stacks
    plans = []
    for m in system.machines:
        size = len(m.mem)
        regions = sorted((lo, hi, t) for t in system.threads if (lohi := stacks.get(t.name)) for lo, hi in [lohi])
        plan, at = [], 0
        for lo, hi, t in regions:
            if lo > at:
                plan.append((at, lo, None))
            if t.machine == m.index:
                plan.append((lo, hi, t))
            at = max(at, hi)
        if at < size:
            plan.append((at, size, None))
        plans.append(plan)
    return plans


def _state_key(system, plans=None) -> int:
    """A hash of everything the run's continuation depends on, with times relative to now."""
    now = system.cycle
    if plans is None:
        parts = [tuple(m.mem) for m in system.machines]
    else:
        parts = []
        for m, plan in zip(system.machines, plans):
            mem = m.mem
            for lo, hi, t in plan:
                if t is not None:
                    lo = min(max(lo, t.regs[15]), hi)  # the live frames: [sp, top)
                parts.append(tuple(mem[lo:hi]))
    for t in system.threads:
        parts.append((t.pc, tuple(t.regs), tuple(t.calls), tuple(t.stack), t.state, t.preempt, t.in_kernel,
                      t.wake_pending, t.spinning_lock, t.blocked_on, t.core))
    for c in system.cores:
        parts.append((-1 if c.thread is None else c.thread.tid, max(0, c.stall_until - now), c.slice_end - now,
                      c.spinning, tuple(c.sb.entries) if c.sb is not None else ()))
    parts.append(tuple(tuple(t.tid for t in m.run_queue) for m in system.machines))
    # timer data and queued messages are tuples of ints: hashable as they are
    parts.append(tuple((at - now, kind, data) for at, _, kind, data in sorted(system.timers)))
    net = system.network
    parts.append((net.next_message, tuple((tuple(p.queue), tuple(t.tid for t in p.waiters)) for p in net.ports)))
    return hash(tuple(parts))


class Explorer:
    """One scenario under one set of options; `run(bound)` is one depth-first pass."""

    def __init__(self, scenario: Scenario, options: RunOptions, *, final_key: Callable | None = None,
                 progress: Callable[[dict], None] | None = None, max_states: int | None = None,
                 stop_at_failure: bool = True, delays: bool = False, accept: Callable | None = None,
                 image=None, sleep_sets: bool = True):
        from .system import System

        self.sleep_sets = sleep_sets
        self.accept = accept
        self.delays = delays
        self.visible = _Visible()
        self.ctrl = _Controller()
        self.system = System(scenario, options, observer=self.visible, image=image)
        self.system.scheduler = self.ctrl
        self.system._decide = self.system._decide_hooked  # one instruction per decision, no log
        self.system.run(pause_at=0)  # boot: threads on their cores
        self.system.settle()
        self.root = self.system.snapshot_state()
        self.plans = _memory_plan(self.system) if self.system.image.stacks else None
        self.final_key = final_key
        self.progress = progress
        self.max_states = max_states
        self.stop_at_failure = stop_at_failure
        self.finals: set = set()
        self.cores = core_names(self.system.cores)
        self.memory_model = self.system.options.memory_model

    # ------------------------------------------------------------------ transitions

    def _run_core(self, core) -> int:
        """Run `core` through its next visible instruction; returns the instructions run."""
        system, ctrl, visible = self.system, self.ctrl, self.visible
        ctrl.next = core
        visible.seen = 0
        thread = core.thread
        sb = core.sb.entries if core.sb is not None else None
        buffered = len(sb) if sb is not None else 0
        n = 0
        while True:
            system.run(pause_at=system.instructions + 1)
            n += 1
            if system.outcome is not None or visible.seen or core.spinning or core.thread is not thread:
                break
            if sb is not None and len(sb) > buffered:  # a store entered the buffer: a drain may follow
                break
            if not system.settle():
                break
            if core not in system.active or n >= MAX_LOCAL:
                break
        return n

    def _children(self, last: int, last_thread) -> list[tuple[str, object, int]]:
        """(kind, core, cost) in the order tried: go on (or, after a forced switch, the next core
        in turn), the other cores, then drains. A preemption costs 1; with `delays`, so does a
        forced switch to a core other than the next in turn."""
        system = self.system
        active = system.active
        cur = next((c for c in active if c.gid == last), None)
        can_go_on = cur is not None and cur.thread is last_thread and not cur.spinning
        out = []
        if can_go_on or (cur is not None and cur.spinning and len(active) == 1):
            out.append(("run", cur, 0))
            others = [c for c in active if c is not cur]
            cost = 1
        else:
            # a forced switch: the last core blocked, halted, spun or changed threads
            if cur is not None and not cur.spinning:
                turn = [cur] + [c for c in active if c is not cur]  # its new thread goes on
            else:
                turn = [c for c in active if c.gid > last] + [c for c in active if c.gid <= last and c is not cur]
            others = turn[1:] if turn else []
            if turn:
                out.append(("run", turn[0], 0))
            cost = 1 if self.delays else 0
        for c in others:
            out.append(("run", c, cost))
        if system.tso:
            for c in system.cores:
                if c.sb.entries:
                    out.append((DRAIN, c, 0))
        return out

    # ------------------------------------------------------------------ the search

    def root_choices(self) -> int:
        """How many transitions leave the initial state (the subtrees a parallel search splits)."""
        self.system.restore_state(self.root)
        return len(self._children(-1, None))

    def run(self, bound: int | None, root_child: int | None = None) -> dict:
        """One depth-first pass with at most `bound` preemptions (None: no bound). Returns its
        counts and, if one was found (and stop_at_failure), the failing path."""
        system = self.system
        seen: dict[tuple, int] = {}  # (state, last core) -> most budget left it was explored with
        big = 1 << 30
        counts = {"explored": 0, "pruned": 0, "bounded": 0, "states": 0, "cut": 0, "slept": 0}
        path: list[tuple] = []  # ("run", gid, n) / ("drain", gid)
        # frames: [snapshot, children left, path length, last, last thread tid, used, sleep set,
        # footprints of the children done]
        stack: list[list] = []
        failure = None
        system.restore_state(self.root)
        node = (-1, None, 0)  # last core gid, the thread it ran, preemptions used
        # sleep sets (Godefroid 1996), in the unbounded search only: with a bound, the equivalent
        # order that a sleep set relies on may cost more preemptions than the bound allows
        # (Coons, Musuvathi and McKinley, OOPSLA 2013), so bounded passes use state caching alone
        sleepy = bound is None and self.sleep_sets
        sleep: dict = {}  # (kind, gid) -> _Footprint: transitions not to take here
        slept_with: dict = {}  # state key -> the sleep set it was explored with
        last_report = time.monotonic()
        while True:
            # ---- at a node: the system is in its state, settled
            last, last_thread, used = node
            expand = True
            outcome = system.outcome
            if outcome is not None:
                expand = False
                counts["explored"] += 1
                if outcome.outcome == "step_limit":
                    counts["cut"] += 1
                elif outcome.outcome not in NOT_FAILURES and (self.accept is None or self.accept(outcome.as_dict())):
                    failure = (outcome.as_dict(), list(path), used)
                    if self.stop_at_failure:
                        break
                if self.final_key is not None and outcome.outcome == "completed":
                    self.finals.add(self.final_key(system))
            else:
                key = (_state_key(system, self.plans), last)
                left = big if bound is None else bound - used
                asleep = frozenset(sleep)
                if seen.get(key, -1) >= left and (not sleepy or slept_with[key] <= asleep):
                    counts["pruned"] += 1  # explored before, with as much budget and no more asleep
                    expand = False
                else:
                    if key not in seen:
                        counts["states"] += 1
                    elif sleepy:
                        asleep = asleep & slept_with[key]
                    seen[key] = left
                    if sleepy:
                        slept_with[key] = asleep
            if expand:
                children = []
                choices = self._children(last, last_thread)
                if root_child is not None and not path:  # one subtree of a parallel search
                    choices = choices[root_child:root_child + 1]
                for kind, core, cost in choices:
                    if bound is not None and used + cost > bound:
                        counts["bounded"] += 1
                    elif sleepy and (kind, core.gid) in sleep:
                        counts["slept"] += 1  # an order of independent steps explored already
                    else:
                        children.append((kind, core.gid, cost))
                if children:
                    frame = None
                    if len(children) > 1:
                        frame = [system.snapshot_state(), children[1:], len(path), last,
                                 last_thread.tid if last_thread is not None else -1, used, sleep, []]
                        stack.append(frame)
                    node, sleep = self._step(children[0], path, node, sleep, frame, sleepy)
                    continue
            if self.max_states is not None and counts["states"] >= self.max_states:
                self.stopped = f"stopped after {counts['states']:,} states (max_states)"
                break
            if self.progress is not None and time.monotonic() - last_report > 0.5:
                last_report = time.monotonic()
                self.progress({**counts, "bound": bound, "depth": len(path)})
            # ---- backtrack to the deepest node with a child left
            while stack and not stack[-1][1]:
                stack.pop()
            if not stack:
                break
            frame = stack[-1]
            blob, children, depth, last, tid, used, sleep, _ = frame
            child = children.pop(0)
            if not children:
                stack.pop()
            system.restore_state(blob)
            del path[depth:]
            node, sleep = self._step(child, path, (last, None if tid < 0 else system.threads[tid], used), sleep,
                                     frame, sleepy)
        return {"counts": counts, "failure": failure}

    def _step(self, child, path, node, sleep: dict, frame, sleepy: bool):
        """Take `child` from a node whose sleep set is `sleep` (its frame, if it has one, lists the
        siblings done before); returns the new node and its sleep set: what slept here, and the
        siblings done before, that commute with this step."""
        if not sleepy:
            return self._apply(child, path, node), sleep
        system, visible = self.system, self.visible
        core = system.cores[child[1]]
        before = (len(system.timers), system.timer_order, core.slice_end, core.thread,
                  [c.gid for c in system.active])
        visible.reads, visible.writes, visible.other = set(), set(), False
        node = self._apply(child, path, node)
        after = (len(system.timers), system.timer_order, core.slice_end, core.thread,
                 [c.gid for c in system.active])
        other = visible.other or before != after or core.spinning or system.outcome is not None
        fp = _Footprint(core.gid, frozenset(visible.reads), frozenset(visible.writes), other)
        done = frame[7] if frame is not None else ()
        new = {t: f for t, f in sleep.items() if f.independent(fp)}
        for t, f in done:
            if f.independent(fp):
                new[t] = f
        if frame is not None:
            frame[7].append(((child[0], child[1]), fp))
        return node, new

    def _apply(self, child, path, node) -> tuple:
        kind, gid, cost = child
        last, last_thread, used = node
        system = self.system
        core = system.cores[gid]
        if kind == DRAIN:
            core.sb.drain_one()
            path.append((DRAIN, gid))
            return (last, last_thread, used)
        thread = core.thread
        n = self._run_core(core)
        path.append(("run", gid, n))
        if system.outcome is None:
            system.settle()
        return (gid, thread, used + cost)

    def schedule_of(self, path: list[tuple]) -> Schedule:
        """The explored path as a schedule file's steps: one decision per instruction, as run."""
        sched = Schedule(list(self.cores), self.memory_model)
        for step in path:
            if step[0] == DRAIN:
                sched.add_drain(step[1])
            else:
                for _ in range(step[2]):
                    sched.add_run(step[1], 1)
        return sched


def explore_subtree(toml_path: str, options: RunOptions, bound: int | None, delays: bool, child: int,
                    max_states: int | None) -> dict:
    """One task of a parallel search (a Ray task): the subtree under the root's transition
    `child`, at one bound. Plain data in and out."""
    ex = Explorer(load_scenario(toml_path), options, delays=delays, max_states=max_states)
    ex.stopped = None
    out = ex.run(bound, root_child=child)
    failure = out["failure"]
    if failure is not None:
        outcome, path, used = failure
        failure = (outcome, ex.schedule_of(path).as_dict(), used)
    return {"counts": out["counts"], "failure": failure, "stopped": ex.stopped}


def _explore_parallel(sc, opts, bounds, delays, max_states, map_tasks, start) -> ExploreResult:
    """Each bound's search split at the root, one task per subtree; the failure of the lowest
    subtree wins, so the result does not depend on which task ends first."""
    ex = Explorer(sc, opts, delays=delays)
    n = ex.root_choices()
    passes, result = [], None
    for bound in bounds:
        outs = map_tasks(explore_subtree, [(str(sc.toml_path), opts, bound, delays, i, max_states) for i in range(n)])
        c = {k: sum(o["counts"][k] for o in outs) for k in ("explored", "pruned", "bounded", "states", "cut", "slept")}
        passes.append({"bound": bound, **c})
        stopped = next((o["stopped"] for o in outs if o["stopped"]), None)
        result = ExploreResult(bound, c["explored"], c["pruned"], c["bounded"], c["states"], 0.0, cut=c["cut"],
                               slept=c["slept"],
                               passes=passes, stopped=stopped)
        failed = next((o["failure"] for o in outs if o["failure"] is not None), None)
        if failed is not None:
            outcome, schedule, used = failed
            result.failure = Failure(outcome, Schedule.from_dict(schedule), used)
            break
    result.seconds = time.perf_counter() - start
    return result


def explore(scenario: str | Path | Scenario, options: RunOptions | None = None, *,
            preemptions: int | None = 2, iterative: bool = True, stop_at_failure: bool = True,
            final_key: Callable | None = None, progress: Callable[[dict], None] | None = None,
            max_states: int | None = None, delays: bool = False, accept: Callable | None = None,
            map_tasks: Callable | None = None, image=None, sleep_sets: bool = True) -> ExploreResult:
    """Every schedule of `scenario` with at most `preemptions` preemptions (None: no bound).

    With `iterative`, bounds 0, 1, ... `preemptions` are searched in turn and the first failure
    found has the fewest preemptions. `final_key(system)`, if given, is collected over the end
    states of completed runs into `result.final_states`. `progress(dict)` is called about twice a
    second on long searches. `accept(outcome dict)`: which failures count (default: all).
    `map_tasks(fn, [args, ...]) -> [results]` runs the search split at the root on an engine
    (e.g. Ray); each subtree keeps its own state cache, so the counts may differ from one search.
    `delays`: delay bounding (see the module docstring). `image`: an assembled program for the
    scenario (a litmus test's, built in memory), else the scenario's sources are assembled.
    Raises SimError for a scenario or options that do not load.
    """
    from .scenario import validate_options

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    opts = validate_options(sc, options or RunOptions())
    start = time.perf_counter()
    bounds = list(range(preemptions + 1)) if (iterative and preemptions is not None) else [preemptions]
    if map_tasks is not None and final_key is None and accept is None and stop_at_failure:
        return _explore_parallel(sc, opts, bounds, delays, max_states, map_tasks, start)
    ex = Explorer(sc, opts, final_key=final_key, progress=progress, max_states=max_states,
                  stop_at_failure=stop_at_failure, delays=delays, accept=accept, image=image,
                  sleep_sets=sleep_sets)
    ex.stopped = None
    bounds = list(range(preemptions + 1)) if (iterative and preemptions is not None) else [preemptions]
    passes = []
    result = None
    for bound in bounds:
        out = ex.run(bound)
        c = out["counts"]
        passes.append({"bound": bound, **c})
        result = ExploreResult(bound, c["explored"], c["pruned"], c["bounded"], c["states"], 0.0, cut=c["cut"],
                               slept=c["slept"],
                               passes=passes, stopped=ex.stopped)
        if out["failure"] is not None:
            outcome, path, used = out["failure"]
            result.failure = Failure(outcome, ex.schedule_of(path), used)
            if stop_at_failure:
                break
        if ex.stopped:
            break
    result.seconds = time.perf_counter() - start
    if final_key is not None:
        result.final_states = ex.finals
    return result


def final_states(scenario: str | Path | Scenario, options: RunOptions | None = None, *,
                 key: Callable, preemptions: int | None = None, image=None,
                 max_states: int | None = None, sleep_sets: bool = True) -> set:
    """The set of `key(system)` over the end states of every completed schedule (no preemption
    bound by default): for `litmus --exhaustive`, e.g. key=lambda s: (s.threads[0].regs[1], ...)."""
    return explore(scenario, options, preemptions=preemptions, iterative=False, stop_at_failure=False,
                   final_key=key, image=image, max_states=max_states, sleep_sets=sleep_sets).final_states
