"""Bug hunting across seeds: run one scenario for many seeds in worker processes (or Ray tasks).

Each worker runs the simulator without recording (full speed); a seed whose run fails (panic,
deadlock, step limit or a failed check) can be recorded again into `keep/seed-N` so that it can
be queried and replayed. The scenario is loaded and assembled once before any seed runs, so a
broken one is refused with its error instead of failing every seed. A worker that crashes is
reported with its seed and the sweep goes on. Where the seeds run is tracer.task_engine's choice.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import SimError
from sim.scenario import RunOptions, effective_cores, load_scenario, validate_options

from .errors import TraceError
from .task_engine import WorkerCrashed, check_engine, run_tasks

FAILING = ("panic", "deadlock", "step_limit", "check_failed")


def parse_seeds(text: str) -> range:
    """`A..B` (inclusive) or a single seed."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", text or "")
    if not m:
        raise TraceError(f"--seeds expects A..B (e.g. 0..199) or one seed, got {text!r}")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if last < first:
        raise TraceError(f"--seeds {text}: the range is empty ({last} < {first})")
    return range(first, last + 1)


def run_seed(scenario: str, options: RunOptions, seed: int, keep: str | None, show: tuple[str, ...] = ()) -> dict:
    """One seed, in a worker: the outcome, where it panicked or which check failed, and the
    final values of the `show` symbols."""
    from sim.system import System

    sc = load_scenario(scenario)
    opts = options.with_(seed=seed)
    system = System(sc, opts)
    outcome = system.run()
    result = {"seed": seed, **outcome.as_dict()}
    if show:
        result["memory"] = {name: system.read_symbol(name) for name in show}
    if keep is not None and outcome.outcome in FAILING:
        from .record_session import record

        # the sweep's workers already use the cores: write in this process
        run = record(sc, Path(keep) / f"seed-{seed}", force=True, options=opts, background=False)
        result["run_dir"] = str(run.path)
    return result


@dataclass
class SweepResult:
    scenario: str
    options: dict
    seeds: range
    results: list[dict] = field(default_factory=list)
    show: tuple[str, ...] = ()
    engine: str = "process"

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(sorted(Counter(r["outcome"] for r in self.results).items()))

    @property
    def failing(self) -> list[dict]:
        """Runs that found something: a panic, a deadlock, a hang (step limit) or a failed check."""
        return [r for r in self.results if r["outcome"] in FAILING]

    @property
    def errors(self) -> list[dict]:
        """Seeds that could not be run: a worker crashed or raised."""
        return [r for r in self.results if r["outcome"] in ("error", "crashed")]

    def histograms(self) -> dict[str, list[list[int]]]:
        """For each --show symbol: [value, runs] over the runs that report it, by value."""
        out = {}
        for name in self.show:
            counts = Counter(r["memory"][name] for r in self.results if name in r.get("memory", {}))
            out[name] = [[v, n] for v, n in sorted(counts.items())]
        return out

    def as_dict(self) -> dict:
        runs = len(self.results)
        failing = self.failing
        sites = Counter()
        checks = Counter()
        for r in failing:
            p = r.get("panic")
            if p:
                sites[(p["message"], p["file"], p["line"], p["function"])] += 1
            c = r.get("check")
            if c:
                checks[(c["kind"], c["name"], c["expr"])] += 1
        return {
            "scenario": self.scenario,
            "options": self.options,
            "engine": self.engine,
            "seeds": f"{self.seeds.start}..{self.seeds.stop - 1}",
            "runs": runs,
            "outcomes": self.outcomes,
            "failing": [r["seed"] for r in failing],
            "hit_rate": len(failing) / runs if runs else 0.0,
            "panic_sites": [{"message": m, "file": f, "line": ln, "function": fn, "count": n}
                            for (m, f, ln, fn), n in sites.most_common()],
            "failed_checks": [{"kind": k, "name": nm, "expr": e, "count": n}
                              for (k, nm, e), n in checks.most_common()],
            "histograms": self.histograms(),
            "failures": failing,
            "errors": self.errors,
        }


def prepare(scenario: str, options: RunOptions, show: tuple[str, ...] = ()):
    """Load, validate and assemble once, before any seed runs: a scenario that does not load or
    assemble, or a --show symbol it does not have, is refused with its one error. Returns the
    scenario and the options every seed gets (PCT's measured k resolved once, here)."""
    from sim.scenario import assemble_scenario
    from sim.strategies import pct_steps
    from sim.thread import check_shown

    sc = load_scenario(scenario)
    opts = validate_options(sc, options)
    image = assemble_scenario(sc, opts)
    for name in show:
        check_shown([t.name for t in sc.threads], image, name)
    if opts.sched in ("pct", "pct-mc") and opts.pct_steps is None:
        opts = opts.with_(pct_steps=pct_steps(sc, opts, image))
    return sc, opts


def sweep(scenario: str, options: RunOptions, seeds: range, jobs: int = 2, keep: str | Path | None = None,
          progress: Callable[[dict], None] | None = None, *, show: tuple[str, ...] | list[str] = (),
          engine: str = "process", address: str | None = None) -> SweepResult:
    check_engine(engine, address, jobs)
    show = tuple(show)
    if len(seeds) == 0:
        raise TraceError("the seed range is empty")
    sc, opts = prepare(scenario, options, show)
    if keep is not None:
        keep = Path(keep)
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TraceError(f"cannot create --keep directory: {e.strerror or e}", str(keep)) from None
        keep = str(keep.resolve())  # workers elsewhere (Ray) write there too
    scenario_path = str(sc.toml_path)
    # the options every seed ran with, as used: the primary machine's cores even when the
    # scenario's default was taken, the quantum and step limit too
    result = SweepResult(scenario_path, {"variant": opts.variant, "cores": effective_cores(sc, opts)[sc.primary],
                                         "sched": opts.sched, "depth": opts.depth, "quantum": opts.quantum,
                                         "step_limit": opts.step_limit, "memory_model": opts.memory_model,
                                         "max_burst": opts.max_burst, "pct_steps": opts.pct_steps,
                                         "check_invariants": opts.check_invariants}, seeds, show=show,
                         engine=engine)
    seed_list = list(seeds)

    def done(i: int, r) -> None:
        seed = seed_list[i]
        if isinstance(r, WorkerCrashed):
            r = {"seed": seed, "outcome": "crashed", "instructions": 0, "cycles": 0, "error": str(r)}
        elif isinstance(r, (SimError, TraceError)):
            r = {"seed": seed, "outcome": "error", "instructions": 0, "cycles": 0, "error": str(r)}
        elif isinstance(r, BaseException):  # a bug in a worker: report it with its seed, go on
            r = {"seed": seed, "outcome": "error", "instructions": 0, "cycles": 0,
                 "error": f"{type(r).__name__}: {r}"}
        result.results.append(r)
        if progress is not None:
            progress(r)

    run_tasks(run_seed, [(scenario_path, opts, seed, keep, show) for seed in seed_list], done,
              engine=engine, jobs=jobs, address=address)
    result.results.sort(key=lambda r: r["seed"])
    return result
