"""Bug-hunting power per strategy, on the NFS case and every bug of the corpus.

For each scenario (NFS x VMXMON v2 on two cores; data/scenarios/bugs/*, variant buggy) and each
strategy (random; random --max-burst 4; pct d=2 and d=3 with k measured; pct-mc d=2; pos; hunt)
it prints:

    hit rate   failing runs among seeds 0..SEEDS-1 (hunt: hunts that found the bug within the
               budget, among the STARTS starting seeds)
    median     runs to the first failure from STARTS starting seeds s spread over the seeds (0, 10,
               20, ... for 20 of 200: runs s, s+1, ... until one fails, past SEEDS if need be;
               hunt: the runs `revtrace hunt --seed s` needs), capped at CAP ("> CAP" when the
               median is not reached)
    seconds    wall time of the SEEDS-seed sweep (hunt: median seconds per hunt)
    fixed      failing runs of the fixed variant among the same seeds (must be 0; hunt: hunts that
               found anything in the fixed variant with budget 100)

and checks the issue's targets: on NFS the best strategy needs at most a third of random's runs;
hunt finds every buggy variant within 100 runs; no fixed variant ever fails.

    .venv/bin/python bench/bench_hunt.py [--seeds 200] [--starts 20] [--jobs 2] [--only NAME] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hunt import hunt
from sim.scenario import BUNDLED, RunOptions, load_scenario
from tracer.sweep_session import FAILING, sweep

CAP = 2000
STRATEGIES = [
    ("random", {"sched": "random"}),
    ("random --max-burst 4", {"sched": "random", "max_burst": 4}),
    ("pct d=2", {"sched": "pct", "depth": 2}),
    ("pct d=3", {"sched": "pct", "depth": 3}),
    ("pct-mc d=2", {"sched": "pct-mc", "depth": 2}),
    ("pos", {"sched": "pos"}),
]


def targets() -> list[tuple[str, str, dict, str | None]]:
    """(label, scenario path, base options, fixed variant or None)."""
    out = [("nfs_vmxmon (v2, 2 cores)", "nfs_vmxmon", {"cores": 2, "variant": "v2"}, "v1")]
    for p in sorted((BUNDLED / "bugs").glob("*/scenario.toml")):
        # the corpus programs take a few thousand instructions: a hang shows as step_limit at 100k
        limit = min(100_000, load_scenario(p).step_limit)
        out.append((p.parent.name, str(p.parent), {"variant": "buggy", "step_limit": limit}, "fixed"))
    return out


class Outcomes:
    """Failing or not, per seed, swept lazily in chunks (so that runs-to-failure can look past SEEDS)."""

    def __init__(self, scenario: str, options: RunOptions, jobs: int):
        self.scenario, self.options, self.jobs = scenario, options, jobs
        self.failing: dict[int, bool] = {}

    def fill(self, seeds: range) -> float:
        todo = [s for s in seeds if s not in self.failing]
        if not todo:
            return 0.0
        start = time.perf_counter()
        result = sweep(self.scenario, self.options, range(todo[0], todo[-1] + 1), jobs=self.jobs)
        for r in result.results:
            self.failing[r["seed"]] = r["outcome"] in FAILING
        return time.perf_counter() - start

    def runs_from(self, start: int) -> int | None:
        s, chunk = start, 50
        while s < start + CAP:
            if s not in self.failing:
                self.fill(range(s, min(s + chunk, start + CAP)))
                chunk = min(chunk * 2, 400)
            if self.failing[s]:
                return s - start + 1
            s += 1
        return None


def starts(args) -> list[int]:
    """The starting seeds: spread over the swept seeds (0, 10, 20, ... for 20 starts of 200)."""
    step = max(1, args.seeds // args.starts)
    return [i * step for i in range(args.starts)]


def median_runs(values: list[int | None]) -> str:
    known = sorted(v if v is not None else CAP + 1 for v in values)
    m = statistics.median(known)
    return f"> {CAP}" if m > CAP else f"{m:g}"


def bench_strategy(label, scenario, base, fixed, extra, args) -> dict:
    opts = RunOptions(**{**base, **extra})
    o = Outcomes(scenario, opts, args.jobs)
    seconds = o.fill(range(args.seeds))
    hits = sum(o.failing[s] for s in range(args.seeds))
    runs = [o.runs_from(start) for start in starts(args)]
    fixed_fails = None
    if fixed is not None:
        f = sweep(scenario, opts.with_(variant=fixed), range(args.seeds), jobs=args.jobs)
        fixed_fails = len(f.failing)
    return {"hit_rate": hits / args.seeds, "hits": hits, "median_runs": median_runs(runs), "runs": runs,
            "seconds": seconds, "fixed_failures": fixed_fails}


def bench_hunt(label, scenario, base, fixed, args) -> dict:
    runs, seconds, found = [], [], 0
    for i in starts(args):
        start = time.perf_counter()
        r = hunt(scenario, RunOptions(**base), seed=i, budget=args.hunt_budget, jobs=args.jobs)
        seconds.append(time.perf_counter() - start)
        found += r.found
        runs.append(r.runs if r.found else None)
    fixed_fails = None
    if fixed is not None:
        fixed_fails = sum(hunt(scenario, RunOptions(**{**base, "variant": fixed}), seed=1000 * i, budget=100,
                               jobs=args.jobs).found for i in starts(args)[:args.fixed_hunts])
    worst = max((r for r in runs if r is not None), default=None)
    return {"hit_rate": found / args.starts, "hits": found, "median_runs": median_runs(runs), "runs": runs,
            "worst_runs": worst if found == args.starts else None, "seconds": statistics.median(seconds),
            "fixed_failures": fixed_fails}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--hunt-budget", type=int, default=1000)
    ap.add_argument("--fixed-hunts", type=int, default=3, help="hunts (budget 100) of each fixed variant")
    ap.add_argument("--only", action="append", help="only these scenarios (label prefix)")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    report = {}
    problems = []
    for label, scenario, base, fixed in targets():
        if args.only and not any(label.startswith(o) for o in args.only):
            continue
        rows = {}
        for name, extra in STRATEGIES:
            rows[name] = bench_strategy(label, scenario, base, fixed, extra, args)
        rows["hunt"] = bench_hunt(label, scenario, base, fixed, args)
        report[label] = rows
        print(f"\n{label}")
        print(f"  {'strategy':<22}{'hit rate':>10}{'median runs':>13}{'seconds':>9}{'fixed fails':>13}")
        for name, r in rows.items():
            print(f"  {name:<22}{r['hit_rate']:>10.1%}{r['median_runs']:>13}{r['seconds']:>9.2f}"
                  f"{'-' if r['fixed_failures'] is None else r['fixed_failures']:>13}", flush=True)
        h = rows["hunt"]
        if label.startswith("nfs"):
            def med(r):
                return CAP + 1 if r["median_runs"].startswith(">") else float(r["median_runs"])
            best = min(rows, key=lambda n: med(rows[n]))
            ratio = med(rows[best]) / med(rows["random"])
            print(f"  best: {best}, {med(rows[best]):g} runs against random's {med(rows['random']):g} "
                  f"(ratio {ratio:.2f}; target <= 0.33)")
            if ratio > 1 / 3:
                problems.append(f"{label}: best/random = {ratio:.2f}")
        elif h["worst_runs"] is None or h["worst_runs"] > 100:
            problems.append(f"{label}: hunt needed more than 100 runs from some start ({h['runs']})")
        for name, r in rows.items():
            if r["fixed_failures"]:
                problems.append(f"{label}: the fixed variant failed under {name} ({r['fixed_failures']})")
    print("\ntargets:", "all met" if not problems else "; ".join(problems))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
