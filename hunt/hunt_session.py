"""`revtrace hunt`: find a failing schedule by steering from what a passing run showed.

1. Run seeds from `seed` on with the directed scheduler and no directive (plain random
   scheduling with bursts of 1..max_burst) until one passes; a failure here ends the hunt at once.
   Record the passing run (tracer) and ask the queries for its racing pairs and invariant windows.
2. For each racing pair A (thread a) then B (thread b): run with a held just before A until b
   has executed B (sim.directed_scheduler), reversing the pair; for each window, hold the thread
   that closed it (hunt.targets). Each directive is tried with two seeds (the second round after
   all the first ones). Then undo each reads-from pair of the passing run (see below), twice too.
3. Then reads-from coverage (hunt.reads_from): every run reports the (writer site, reader site)
   pairs it saw; a run that shows a pair never seen before is mutated further (RFF-style): one
   child per new pair (up to MAX_CHILDREN) adds the directive that undoes that pair (hold the
   writer until the reader has read; for a read of the initial value, hold the reader until
   another thread's write to that word, as seen in any run so far), and one child re-seeds it. When nothing is left to try,
   fresh seeds with no directive.

The hunt stops at the first failing run (panic, deadlock, step limit or check_failed) and records
it with its schedule: the run's options (sched = directed, its seed and directives) are in the
recording's meta.json, so `revtrace replay` re-executes it exactly. Runs go in batches of BATCH
through tracer.task_engine (a process pool or Ray); the batch size does not depend on the engine
or the number of workers and results are taken in candidate order, so the hunt (which run fails,
after how many runs) is a deterministic function of (scenario, options, seed, budget).
"""

from __future__ import annotations

import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import SimError
from sim.scenario import UINT_MAX, RunOptions
from tracer.errors import TraceError
from tracer.sweep_session import FAILING, prepare
from tracer.task_engine import TaskEngine, WorkerCrashed, check_engine

from .runner import run_candidate

BATCH = 8
MAX_DIRECTIVES = 3  # per schedule: more rarely all take effect
MAX_CHILDREN = 4  # per new reads-from pair set
MAX_PASSING_UNDOS = 32  # reads-from pairs of the passing run tried undone
DEFAULT_MAX_BURST = 4


@dataclass
class HuntResult:
    scenario: str
    options: dict
    found: bool
    runs: int
    passing_seed: int | None = None
    racing_pairs: int = 0
    windows: int = 0
    coverage: int = 0  # distinct (writer site, reader site) pairs seen
    failure: dict | None = None  # the failing run's outcome, seed, directives, phase
    run_dir: str | None = None
    phases: dict = field(default_factory=dict)  # runs per phase

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("scenario", "options", "found", "runs", "passing_seed",
                                               "racing_pairs", "windows", "coverage", "failure", "run_dir",
                                               "phases")}


def hunt(scenario: str, options: RunOptions, *, seed: int = 0, budget: int = 1000, out: str | Path | None = None,
         jobs: int = 2, engine: str = "process", address: str | None = None, force: bool = False,
         progress=None) -> HuntResult:
    check_engine(engine, address, jobs)
    if budget < 2:
        raise TraceError(f"--budget must be at least 2 runs, got {budget}")
    if not 0 <= seed <= UINT_MAX:  # the same range as every other command's seed
        raise TraceError(f"--seed must be between 0 and 2**64-1, got {seed}")
    if options.max_burst is None:
        options = options.with_(max_burst=DEFAULT_MAX_BURST)
    sc, opts = prepare(scenario, options.with_(sched="directed", directives=()))
    if out is not None and Path(out).exists() and not force:
        raise TraceError("already exists (use --force to replace it)", str(out))
    with TaskEngine(engine, jobs, address) as pool:
        return _Hunt(sc, opts, seed, budget, out, pool, progress).search()


class _Hunt:
    def __init__(self, sc, opts: RunOptions, seed: int, budget: int, out, pool: TaskEngine, progress):
        self.sc, self.opts, self.seed, self.budget, self.out = sc, opts, seed, budget, out
        self.pool, self.progress = pool, progress
        self.path = str(sc.toml_path)
        self.coverage: set[tuple[int, int]] = set()
        self.writers: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (machine, addr) -> [(site, thread)]
        self.result = HuntResult(self.path, {
            "variant": opts.variant, "cores": opts.cores, "max_burst": opts.max_burst,
            "memory_model": opts.memory_model, "check_invariants": opts.check_invariants,
            "seed": seed, "budget": budget}, found=False, runs=0)

    def note(self, phase: str, r: dict) -> None:
        result = self.result
        result.runs += 1
        result.phases[phase] = result.phases.get(phase, 0) + 1
        if self.progress is not None:
            self.progress(result.runs, r)

    def found(self, r: dict, phase: str) -> HuntResult:
        result = self.result
        result.found = True
        result.failure = {**{k: v for k, v in r.items() if k not in ("rf", "writers")}, "phase": phase,
                          "held": _describe(self.sc, self.opts, r["directives"])}
        result.coverage = len(self.coverage)
        if self.out is not None:
            result.run_dir = _record(self.sc, self.opts, r, self.out)
        return result

    def batch(self, cands: list[tuple[int, tuple, str]]) -> list[dict]:
        """Run the candidates (seed, directives, phase); results in candidate order."""
        results: list = [None] * len(cands)

        def done(i, r):
            results[i] = r

        self.pool.run(run_candidate, [(self.path, self.opts, s, d) for s, d, _ in cands], done)
        out = []
        for (s, d, _), r in zip(cands, results):
            if isinstance(r, WorkerCrashed):
                r = {"outcome": "crashed", "error": str(r)}
            elif isinstance(r, BaseException):
                raise r if isinstance(r, (SimError, TraceError)) else TraceError(
                    f"a hunt run failed: {type(r).__name__}: {r}")
            out.append({**r, "seed": s, "directives": [list(x) for x in d]})
        return out

    def learn_writers(self, r: dict) -> None:
        for mid, addr, site, tid in r.get("writers", []):
            known = self.writers.setdefault((mid, addr), [])
            if (site, tid) not in known:
                known.append((site, tid))

    def undo(self, p: tuple[int, ...]) -> tuple[int, int, int, int, int] | None:
        """The directive that asks for a different write to be read: hold the writer before that
        write until the reader has read. A read of the initial value: hold the reader until
        another thread has made a write to that word seen in some run so far (if none was, for
        a while). A thread reading its own write: None (holding it until it reads would hang)."""
        w_site, w_tid, w_occ, r_site, r_tid, r_occ, mid, addr = p
        if w_site >= 0:
            return (w_tid, w_site, w_occ, r_tid, r_site) if w_tid != r_tid else None
        for site, tid in self.writers.get((mid, addr), []):
            if tid != r_tid:
                return (r_tid, r_site, r_occ, tid, site)
        return (r_tid, r_site, r_occ, r_tid, -1)

    def search(self) -> HuntResult:
        result, budget, coverage = self.result, self.budget, self.coverage
        # 1. a passing run
        passing = None
        next_seed = self.seed
        while passing is None and result.runs < budget:
            cands = [(next_seed + i, (), "passing") for i in range(min(BATCH, budget - result.runs))]
            next_seed += len(cands)
            for (_, _, phase), r in zip(cands, self.batch(cands)):
                self.note(phase, r)
                if r["outcome"] in FAILING:
                    return self.found(r, phase)
                if r["outcome"] == "completed":
                    passing = r
                    break
        if passing is None:
            return result
        result.passing_seed = passing["seed"]
        coverage.update((p[0], p[3]) for p in passing["rf"])
        self.learn_writers(passing)

        # 2. reverse each racing pair (and stretch each window) of the passing run
        from tracer.record_session import record

        from .targets import directives_from

        with tempfile.TemporaryDirectory(prefix="revtrace-hunt-") as tmp:
            record(self.sc, Path(tmp) / "passing", options=self.opts.with_(seed=passing["seed"]), background=False)
            directives, seen = directives_from(Path(tmp) / "passing")
        result.racing_pairs, result.windows = seen["racing_pairs"], seen["windows"]
        queue: deque[tuple[int, tuple, str]] = deque()
        for round_ in range(2):
            for i, d in enumerate(directives):
                queue.append((_child_seed(self.seed, round_ * 1000 + i), (d,), "race"))
        # ... then undo each reads-from pair of the passing run (an atomicity violation under
        # locks races with nothing, but it reads from the wrong write)
        children = 0
        for _ in range(2):
            for u in [u for u in map(self.undo, passing["rf"]) if u is not None][:MAX_PASSING_UNDOS]:
                children += 1
                queue.append((_child_seed(passing["seed"], children), (u,), "coverage"))

        # 3. reads-from coverage: mutate the schedules that show a new pair
        while result.runs < budget:
            if not queue:
                queue.append((next_seed, (), "random"))
                next_seed += 1
            cands = [queue.popleft() for _ in range(min(BATCH, len(queue), budget - result.runs))]
            for (s, d, phase), r in zip(cands, self.batch(cands)):
                self.note(phase, r)
                if r["outcome"] in FAILING:
                    return self.found(r, phase)
                self.learn_writers(r)
                new = [p for p in r.get("rf", []) if (p[0], p[3]) not in coverage]
                coverage.update((p[0], p[3]) for p in new)
                for u in [u for u in map(self.undo, new) if u is not None][:MAX_CHILDREN]:
                    children += 1
                    queue.append((_child_seed(s, children), _add(d, u), "coverage"))
                if new:
                    children += 1
                    queue.append((_child_seed(s, children), d, "coverage"))
        result.coverage = len(coverage)
        return result


def _add(directives: tuple, d: tuple) -> tuple:
    kept = tuple(x for x in directives if x != d)
    return (*kept[-(MAX_DIRECTIVES - 1):], d)


def _child_seed(parent: int, n: int) -> int:
    """A new seed for a child schedule, a fixed function of its parent's seed and its number."""
    return (parent * 1_000_003 + n * 7919 + 17) % (1 << 62)


def _describe(sc, opts: RunOptions, directives) -> list[str]:
    """Each directive in the program's terms: threads by name, sites as file:line (function)."""
    from sim.scenario import assemble_scenario

    image = assemble_scenario(sc, opts)

    def site(s: int) -> str:
        x = image.sites[s]
        return f"{x.file}:{x.line} ({x.function})"

    names = [t.name for t in sc.threads]
    return [f"{names[t]} held before {site(s)} (execution #{n}) until "
            + (f"{names[u]} ran {site(us)}" if us >= 0 else "the others had run a while")
            for t, s, n, u, us in directives]


def _record(sc, opts: RunOptions, r: dict, out) -> str:
    from tracer.record_session import record

    directives = tuple(tuple(d) for d in r["directives"])
    run = record(sc, out, force=True, options=opts.with_(seed=r["seed"], directives=directives),
                 background=False)
    return str(run.path)
