"""The C front-end: how fast it compiles, and what its code costs the simulator.

1. Compile time of a generated 2,000-line kernel-style C scenario (structs, arrays, spinlocks,
   bit operations, loops, switch, calls): preprocess (pcpp), parse (pycparser), generate, link;
   the median of --repeat runs, wall and CPU time (CPU time is what a
   loaded machine does not inflate). Target: under 1 s.
2. Instructions the C nfs_vmxmon executes per round of VMXMON ioctls against the assembly
   version it replaced (bench/scenarios/nfs_vmxmon_asm), on one core (no panics), seeds 0..9: the marginal cost of one more
   round (ROUNDS=7 minus ROUNDS=6) and the whole run divided by ROUNDS. Target: at most 2x.

    .venv/bin/python bench/bench_cfront.py [--lines 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sim.scenario import RunOptions, assemble_scenario, load_scenario
from sim.system import System

ASM_BASELINE = str(Path(__file__).resolve().parent / "scenarios" / "nfs_vmxmon_asm")

FUNCTION = """
/* worker {i}: one request of the queue, under its lock */
static long handle_{i}(struct request *rq, long budget)
{{
	long done = 0;
	unsigned long flags;

	spin_lock_irqsave(&queue_lock, flags);
	if (test_bit(RQ_BUSY, &rq->flags)) {{
		spin_unlock_irqrestore(&queue_lock, flags);
		return -1;
	}}
	__set_bit(RQ_BUSY, &rq->flags);
	spin_unlock_irqrestore(&queue_lock, flags);
	for (long k = 0; k < budget; k++) {{
		switch ((rq->sector + k) & 3) {{
		case 0: rq->data[k & 3] += k * {i}; break;
		case 1: rq->data[(k + 1) & 3] ^= rq->sector; /* fall through */
		case 2: done++; break;
		default: done += rq->len > k ? 2 : 1;
		}}
	}}
	atomic_add(done, &completed);
	clear_bit(RQ_BUSY, &rq->flags);
	return done + {i};
}}
"""
HEADER = """#include <linux/spinlock.h>
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/sched.h>

enum rq_flags { RQ_BUSY, RQ_DONE, RQ_ERROR };
struct request { unsigned long flags; long sector; long len; long data[4]; };
DEFINE_SPINLOCK(queue_lock);
atomic_t completed;
struct request requests[8];
"""


def generated_scenario(folder: Path, lines: int) -> int:
    body = [HEADER]
    i = 0
    while sum(b.count("\n") for b in body) < lines - 12:
        body.append(FUNCTION.format(i=i))
        i += 1
    calls = "\n".join(f"\ttotal += handle_{k}(&requests[{k % 8}], 3);" for k in range(i))
    body.append(f"long total;\nvoid worker(void)\n{{\n{calls}\n}}\n")
    text = "".join(body)
    (folder / "big.c").write_text(text)
    (folder / "scenario.toml").write_text('name = "big"\n[machines.m]\nsources = ["big.c"]\n'
                                         '[[threads]]\nname = "w"\nentry = "worker"\n')
    return text.count("\n")


def compile_time(lines: int, repeat: int) -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n = generated_scenario(folder, lines)
        sc = load_scenario(folder)
        walls, cpus = [], []
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            image = assemble_scenario(sc, RunOptions())
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        outcome = System(sc, RunOptions(), image=image).run()
        assert outcome.outcome == "completed", outcome
        return n, statistics.median(walls), statistics.median(cpus), len(image.machines["m"].code)


def instructions(scenario: str, variant: str, rounds: int, seeds=range(10)) -> float:
    sc = load_scenario(scenario)
    total = 0
    for seed in seeds:
        options = RunOptions(variant=variant, cores=1, seed=seed, params=(("ROUNDS", rounds),))
        outcome = System(sc, options).run()
        assert outcome.outcome == "completed", outcome
        total += outcome.instructions
    return total / len(seeds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, wall, cpu, code = compile_time(args.lines, args.repeat)
    print(f"compile: {n} lines of C -> {code} instructions in {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
          f"(medians of {args.repeat}; target < 1000 ms)")
    print(f"{'variant':<8}{'per round C':>13}{'asm':>8}{'ratio':>7}{'whole run / ROUNDS C':>23}{'asm':>8}{'ratio':>7}")
    for variant in ("v1", "v2"):
        c6, c7 = instructions("nfs_vmxmon", variant, 6), instructions("nfs_vmxmon", variant, 7)
        a6, a7 = instructions(ASM_BASELINE, variant, 6), instructions(ASM_BASELINE, variant, 7)
        per_c, per_a = c7 - c6, a7 - a6
        print(f"{variant:<8}{per_c:>13.0f}{per_a:>8.0f}{per_c / per_a:>7.2f}{c6 / 6:>23.0f}{a6 / 6:>8.0f}"
              f"{c6 / a6:>7.2f}")


if __name__ == "__main__":
    main()
