"""Systematic exploration and shrinking on the bug corpus and the NFS case.

    .venv/bin/python bench/bench_explore.py [--k 2] [--only NAME ...] [--no-shrink]

For every program in data/scenarios/bugs (buggy and fixed variants), the NFS model in C
(data/scenarios/nfs_vmxmon, 2 cores; v1 at K = 1) and its assembly original
(bench/scenarios/nfs_vmxmon_asm): `explore` at K = --k (delay bounding, the CLI's default; and,
for the corpus, pure preemption bounding capped at 300k states): the verdict, the bound at which
the first failure was found, schedules explored, transitions pruned by the reduction (state
caching), states, wall and CPU seconds (target: < 60 s each). Then, for each buggy variant, a
failing recording from the random scheduler (the first of seeds 0..199 that fails; for the C NFS
model seed 69, the README's, 66 preemptions), shrunk: its preemptions before and after, against
the preemptions explore needed, in wall and CPU seconds. `--only nfs_vmxmon` runs the NFS rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hunt.shrink import shrink_run  # noqa: E402
from sim.explorer import explore  # noqa: E402
from sim.scenario import RunOptions, load_scenario  # noqa: E402
from sim.system import System  # noqa: E402

BUGS = ROOT / "data" / "scenarios" / "bugs"
NFS_ASM = ROOT / "bench" / "scenarios" / "nfs_vmxmon_asm"
SEEDS = {("nfs_vmxmon", "v2"): 69}  # the failing recording the README shrinks
TARGET_S = 60.0


def programs(only):
    out = []
    for d in sorted(BUGS.iterdir()):
        if (d / "scenario.toml").is_file() and (not only or d.name in only):
            out += [(d.name, d, "buggy", {}), (d.name, d, "fixed", {})]
    if not only or "nfs_vmxmon" in only:
        out += [("nfs_vmxmon", "nfs_vmxmon", "v2", {"cores": 2}), ("nfs_vmxmon", "nfs_vmxmon", "v1", {"cores": 2})]
        out += [("nfs_vmxmon_asm", NFS_ASM, "v2", {"cores": 2}), ("nfs_vmxmon_asm", NFS_ASM, "v1", {"cores": 2})]
    return out


def failing_seed(sc, opts, seeds=200):
    for seed in range(seeds):
        o = System(sc, opts.with_(seed=seed)).run()
        if o.outcome not in ("completed", "step_limit"):
            return seed
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--no-pure", action="store_true", help="skip pure preemption bounding")
    args = ap.parse_args()
    rows, shrinks = [], []
    for name, path, variant, extra in programs(args.only):
        sc = load_scenario(path)
        opts = RunOptions(variant=variant, **extra)
        k = 1 if name.startswith("nfs_vmxmon") and variant == "v1" else args.k
        cpu = time.process_time()
        r = explore(sc, opts, preemptions=k, delays=True)
        cpu = time.process_time() - cpu
        found = r.failure.preemptions if r.failure else None
        pure = None
        if not args.no_pure and not name.startswith("nfs_vmxmon"):
            p = explore(sc, opts, preemptions=k, delays=False, max_states=300_000)
            pure = (p.failure.preemptions if p.failure else None, p.explored, p.pruned, p.states, p.seconds,
                    p.stopped)
        rows.append((name, variant, k, found, r.explored, r.pruned, r.bounded, r.states, r.seconds, pure, cpu))
        print(f"{name:18} {variant:6} K={k} {'FAIL@' + str(found) if found is not None else 'clean':7} "
              f"explored {r.explored:6,} pruned {r.pruned:7,} states {r.states:8,} {r.seconds:6.2f} s "
              f"(cpu {cpu:.2f} s)"
              + ("" if pure is None else f" | pure PB: {'FAIL@' + str(pure[0]) if pure[0] is not None else 'clean'}"
                 f" explored {pure[1]:,} pruned {pure[2]:,} states {pure[3]:,} {pure[4]:.2f} s"
                 + (f" ({pure[5]})" if pure[5] else "")), flush=True)
        if args.no_shrink or found is None:
            continue
        seed = SEEDS.get((name, variant))
        seed = failing_seed(sc, opts) if seed is None else seed
        if seed is None:
            shrinks.append((name, variant, None, None, None, found, None, None))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            import tracer

            tracer.record(sc, Path(tmp) / "run", options=opts.with_(seed=seed), background=False)
            t, c = time.perf_counter(), time.process_time()
            s = shrink_run(Path(tmp) / "run", Path(tmp) / "shrunk")
            t, c = time.perf_counter() - t, time.process_time() - c
            shrinks.append((name, variant, seed, s.original_preemptions, s.preemptions, found, t, c))
            print(f"  shrink seed {seed}: {s.original_preemptions} -> {s.preemptions} preemptions "
                  f"(explore needs {found}), {s.tests} runs, {t:.2f} s (cpu {c:.2f} s): {s.story_text()}",
                  flush=True)
    print()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| program | variant | K | verdict | explored | pruned | states | seconds | cpu s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, variant, k, found, ex, pr, _b, st, sec, _pure, cpu in rows:
        verdict = f"failure at {found}" if found is not None else "clean"
        print(f"| {name} | {variant} | {k} | {verdict} | {ex:,} | {pr:,} | {st:,} | {sec:.2f} | {cpu:.2f} |")
    slowest = max(r[8] for r in rows)
    print(f"\nslowest: {slowest:.2f} s (target < {TARGET_S:.0f} s)")
    if shrinks:
        print("\n| program | seed | preemptions before | after shrink | explore needs | seconds | cpu s |")
        print("|---|---|---|---|---|---|---|")
        for name, variant, seed, before, after, found, sec, cpu in shrinks:
            if seed is None:
                print(f"| {name} ({variant}) | none of 0..199 fails | | | {found} | | |")
            else:
                print(f"| {name} ({variant}) | {seed} | {before} | {after} | {found} | {sec:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
