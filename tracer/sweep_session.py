"""Bug hunting across seeds: run one scenario for many seeds in worker processes.

Each worker runs the simulator without recording (full speed); a seed whose run fails (panic,
deadlock or step limit) can be recorded again into `keep/seed-N` so that it can be queried and
replayed. A worker that crashes is reported with its seed and the sweep goes on.
"""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import SimError
from sim.scenario import RunOptions, load_scenario, validate_options

from .errors import TraceError

FAILING = ("panic", "deadlock", "step_limit")


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


def run_seed(scenario: str, options: RunOptions, seed: int, keep: str | None) -> dict:
    """One seed, in a worker process: the outcome, and where it panicked."""
    from sim.system import System

    sc = load_scenario(scenario)
    opts = options.with_(seed=seed)
    system = System(sc, opts)
    outcome = system.run()
    result = {"seed": seed, **outcome.as_dict()}
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

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(sorted(Counter(r["outcome"] for r in self.results).items()))

    @property
    def failing(self) -> list[dict]:
        """Runs that found something: a panic, a deadlock or a hang (step limit)."""
        return [r for r in self.results if r["outcome"] in FAILING]

    @property
    def errors(self) -> list[dict]:
        """Seeds that could not be run: a worker crashed or raised."""
        return [r for r in self.results if r["outcome"] in ("error", "crashed")]

    def as_dict(self) -> dict:
        runs = len(self.results)
        failing = self.failing
        sites = Counter()
        for r in failing:
            p = r.get("panic")
            if p:
                sites[(p["message"], p["file"], p["line"], p["function"])] += 1
        return {
            "scenario": self.scenario,
            "options": self.options,
            "seeds": f"{self.seeds.start}..{self.seeds.stop - 1}",
            "runs": runs,
            "outcomes": self.outcomes,
            "failing": [r["seed"] for r in failing],
            "hit_rate": len(failing) / runs if runs else 0.0,
            "panic_sites": [{"message": m, "file": f, "line": ln, "function": fn, "count": n}
                            for (m, f, ln, fn), n in sites.most_common()],
            "failures": failing,
            "errors": self.errors,
        }


def sweep(scenario: str, options: RunOptions, seeds: range, jobs: int = 2, keep: str | Path | None = None,
          progress: Callable[[dict], None] | None = None) -> SweepResult:
    sc = load_scenario(scenario)
    opts = validate_options(sc, options)
    if jobs < 1:
        raise TraceError(f"-j must be at least 1, got {jobs}")
    if len(seeds) == 0:
        raise TraceError("the seed range is empty")
    if keep is not None:
        keep = Path(keep)
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TraceError(f"cannot create --keep directory: {e.strerror or e}", str(keep)) from None
        keep = str(keep)
    scenario_path = str(sc.toml_path)
    result = SweepResult(scenario_path, {"variant": opts.variant, "cores": opts.cores, "sched": opts.sched,
                                         "depth": opts.depth, "memory_model": opts.memory_model}, seeds)

    def done(r: dict) -> None:
        result.results.append(r)
        if progress is not None:
            progress(r)

    ctx = multiprocessing.get_context("fork")
    unfinished = _run_pool(ctx, jobs, scenario_path, opts, list(seeds), keep, done)
    # a worker died and took the pool down: run each unfinished seed alone to find who crashes
    for seed in unfinished:
        if _run_pool(ctx, 1, scenario_path, opts, [seed], keep, done):
            done({"seed": seed, "outcome": "crashed", "instructions": 0, "cycles": 0,
                  "error": "the worker process died"})
    result.results.sort(key=lambda r: r["seed"])
    return result


def _run_pool(ctx, jobs, scenario_path, opts, seeds, keep, done) -> list[int]:
    """Run seeds in a pool; returns the seeds left unfinished if the pool broke."""
    unfinished = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(seeds)), mp_context=ctx) as pool:
        futures = {pool.submit(run_seed, scenario_path, opts, seed, keep): seed for seed in seeds}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in finished:
                seed = futures[fut]
                try:
                    done(fut.result())
                except BrokenProcessPool:
                    unfinished.append(seed)
                except (SimError, TraceError) as e:
                    done({"seed": seed, "outcome": "error", "instructions": 0, "cycles": 0, "error": str(e)})
                except Exception as e:  # a bug in a worker: report it with its seed, go on
                    done({"seed": seed, "outcome": "error", "instructions": 0, "cycles": 0,
                          "error": f"{type(e).__name__}: {e}"})
    return sorted(unfinished)
