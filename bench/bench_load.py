"""Program loading: assemble + build time against program size (it must grow linearly).

    .venv/bin/python bench/bench_load.py [--sizes 1000,10000,100000] [--reps 3]

Generates a one-thread scenario of N instructions (loads, stores, arithmetic and forward
branches, one label per branch), then times, per size, the median of --reps fresh loads:
  - assemble: `load_scenario` + `assemble_scenario` (sim/assembler.py and the sim/asm package);
  - build: `System(...)`, which sets up every core's code (sim/compiler.py compiles a chunk when
    one of its instructions first runs, so a build compiles nothing);
  - load = assemble + build: the issue's figure (#14: 100,000 instructions load and compile in
    under 3 s), wall and CPU time (time.process_time) side by side;
  - first run: running the program once, which executes every instruction and so compiles every
    chunk: what the compiling costs when all the code runs (not part of loading any more, but
    shown so that it is not hidden).
The compiled-chunk cache is cleared before each load (the cache would hide the compiling). The
microseconds per instruction staying flat from 1k to 100k is what "linear" means here. Prints
the load average (the machine is shared) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import compiler  # noqa: E402
from sim.scenario import RunOptions, assemble_scenario, load_scenario, validate_options  # noqa: E402
from sim.system import System  # noqa: E402

TARGET_S = 3.0  # 100,000 instructions
OPS = ["    add r1, 1", "    ld r2, [counter]", "    st [counter], r2", "    xor r3, r1",
       "    beq r1, 99999999, .end{i}"]


def write_program(n: int, folder: Path) -> Path:
    """A program of exactly n instructions (labels are not instructions)."""
    body = ["worker:", "    mov r1, 0"]
    count, i = 1, 0
    while count < n - 1:
        op = OPS[i % len(OPS)]
        body.append(op.format(i=i))
        if "{i}" in op:
            body.append(f".end{i}:")
        count += 1
        i += 1
    body.append("    halt")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prog.s").write_text(".word counter, 0\n" + "\n".join(body) + "\n")
    (folder / "scenario.toml").write_text('name = "big"\nstep_limit = 10000000\n[machines.host]\ncores = 1\n'
                                          'sources = ["prog.s"]\n[[threads]]\nname = "t0"\nentry = "worker"\n')
    return folder


def measure(folder: Path) -> dict:
    compiler._factories.clear()  # compile again: the cache would hide it
    w0, c0 = time.perf_counter(), time.process_time()
    sc = load_scenario(folder)
    options = validate_options(sc, RunOptions())
    image = assemble_scenario(sc, options)
    w1 = time.perf_counter()
    system = System(sc, options, image=image)
    w2, c2 = time.perf_counter(), time.process_time()
    outcome = system.run()
    w3, c3 = time.perf_counter(), time.process_time()
    count = len(image.machines["host"].code)
    assert outcome.outcome == "completed" and outcome.instructions == count, (outcome, count)
    return {"asm": w1 - w0, "build": w2 - w1, "load": w2 - w0, "load_cpu": c2 - c0, "run": w3 - w2, "run_cpu": c3 - c2,
            "count": count}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'instructions':>12} {'assemble s':>10} {'build s':>8} {'load s':>7} {'load cpu s':>10} "
          f"{'us/instr':>8} {'first run s':>11} {'run cpu s':>9}")
    with tempfile.TemporaryDirectory(prefix="revtrace-load-") as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            folder = write_program(n, Path(tmp) / f"p{n}")
            runs = [measure(folder) for _ in range(args.reps)]

            def med(key: str) -> float:
                return statistics.median(r[key] for r in runs)
            count = runs[0]["count"]
            print(f"{count:>12,} {med('asm'):>10.3f} {med('build'):>8.3f} {med('load'):>7.3f} "
                  f"{med('load_cpu'):>10.3f} {med('load') / count * 1e6:>8.1f} {med('run'):>11.3f} "
                  f"{med('run_cpu'):>9.3f}")
    print(f"target: 100,000 instructions load in under {TARGET_S:.0f} s")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
