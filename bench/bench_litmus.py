"""Litmus runs per second in one process, and how often the relaxed outcomes show.

    .venv/bin/python bench/bench_litmus.py [--runs N] [--repeat K]

For 2-thread (SB, MP, R; C: SB+poonceonces) and 4-thread (IRIW, IRIW+mfences; C:
IRIW+poonceonces) tests of data/litmus: seeded runs per second through `run_litmus` (one System
built per test, its state restored for each run), the median of K repetitions; then, for the
tests whose outcome x86-TSO allows only through the store buffer, the rate at which the relaxed
outcome was seen with the default bursts (1-2) and drain probability (0.1), against the random
scheduler's default bursts (1-32) and the simulator's default drain probability (0.4), on the
same program (lingering included). Target: >= 3,000 runs/s for 2-thread tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.litmus import build, read_litmus, run_litmus  # noqa: E402
from sim.system import TSO_DRAIN_PROBABILITY  # noqa: E402

THROUGHPUT = [("SB", 2), ("MP", 2), ("R", 2), ("IRIW", 4), ("IRIW+mfences", 4),
              ("C/SB+poonceonces", 2), ("C/IRIW+poonceonces+OnceOnce", 4)]
RELAXED = ["SB", "R", "RWC", "WRW+WR", "n6", "n7", "Dekker", "3.SB"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"litmus runs per second ({args.runs} runs, median of {args.repeat}; one process)")
    for name, threads in THROUGHPUT:
        program = build(read_litmus(ROOT / "data" / "litmus" / f"{name}.litmus"))
        rates = []
        for k in range(args.repeat):
            start = time.perf_counter()
            run_litmus(program, "tso", runs=args.runs, seed=k * args.runs)
            rates.append(args.runs / (time.perf_counter() - start))
        print(f"  {name:28} {threads} threads  {statistics.median(rates):8,.0f} runs/s"
              f"  (min {min(rates):,.0f}, max {max(rates):,.0f})")
    print("relaxed outcome rate, 2000 runs: litmus defaults (bursts 1-2, drain 0.1) vs "
          f"the scheduler's defaults (bursts 1-32, drain {TSO_DRAIN_PROBABILITY})")
    for name in RELAXED:
        program = build(read_litmus(ROOT / "data" / "litmus" / f"{name}.litmus"))
        ours = run_litmus(program, "tso", runs=2000)
        plain = run_litmus(program, "tso", runs=2000, max_burst=32, drain_probability=TSO_DRAIN_PROBABILITY)
        print(f"  {name:10} {100 * ours.positive / ours.runs:6.2f}%   vs {100 * plain.positive / plain.runs:6.2f}%")


if __name__ == "__main__":
    main()
