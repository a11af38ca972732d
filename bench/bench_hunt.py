"""Bug-hunting power: how often random and PCT scheduling hit the NFS x VMXMON BUG_ON.

PCT's guarantee (Burckhardt et al., ASPLOS 2010): a bug of depth d is found in one run with
probability at least 1/(n * k^(d-1)), for n threads and k steps. This prints the measured hit rate
of each scheduler next to that bound, and the sweep throughput.

    .venv/bin/python bench/bench_hunt.py [--seeds 400] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time

from sim.scenario import RunOptions, load_scenario
from tracer.sweep_session import sweep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    sc = load_scenario("nfs_vmxmon")
    threads = len(sc.threads)
    rows = []
    configs = [("random", 0, 2), ("random", 0, 3), ("pct", 2, 2), ("pct", 3, 2), ("pct", 2, 3), ("pct", 3, 3)]
    for sched, depth, cores in configs:
        options = RunOptions(variant="v2", cores=cores, sched=sched, depth=max(depth, 1))
        start = time.perf_counter()
        result = sweep("nfs_vmxmon", options, range(args.seeds), jobs=args.jobs)
        elapsed = time.perf_counter() - start
        summary = result.as_dict()
        steps = sum(r["instructions"] for r in result.results) / len(result.results)
        bound = 1 / (threads * steps ** (depth - 1)) if sched == "pct" else None
        hits = summary["outcomes"].get("panic", 0)
        rows.append((sched, depth or "-", cores, summary["runs"], hits, hits / summary["runs"],
                     bound, steps, summary["runs"] / elapsed, summary["outcomes"]))
    print(f"nfs_vmxmon v2, seeds 0..{args.seeds - 1}, n = {threads} threads")
    print(f"{'scheduler':<10}{'depth':>6}{'cores':>6}{'runs':>6}{'hits':>6}{'hit rate':>10}"
          f"{'PCT bound':>12}{'k (steps)':>11}{'runs/s':>9}  outcomes")
    for sched, depth, cores, runs, hits, rate, bound, steps, rps, outcomes in rows:
        b = f"{bound:.2e}" if bound is not None else "-"
        print(f"{sched:<10}{depth!s:>6}{cores:>6}{runs:>6}{hits:>6}{rate:>10.1%}{b:>12}{steps:>11.0f}{rps:>9.0f}"
              f"  {outcomes}")


if __name__ == "__main__":
    main()
