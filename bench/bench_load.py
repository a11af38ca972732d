"""Program loading: assemble + compile time against program size (it must grow linearly).

    .venv/bin/python bench/bench_load.py [--sizes 1000,10000,100000] [--reps 3]

Generates a one-thread scenario of N instructions (loads, stores, arithmetic and forward
branches), then times `load_scenario` + `assemble_scenario` (the assembler) and building the
System (which compiles every core's code: sim/compiler.py). Prints the median of each and the
microseconds per instruction, whose staying flat from 1k to 100k is what "linear" means here.
Target (issue #14): 100,000 instructions load and compile in under 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import compiler  # noqa: E402
from sim.scenario import RunOptions, assemble_scenario, load_scenario, validate_options  # noqa: E402
from sim.system import System  # noqa: E402

OPS = ["    add r1, 1", "    ld r2, [counter]", "    st [counter], r2", "    xor r3, r1",
       "    beq r1, 99999999, .end{i}"]


def write_program(n: int, folder: Path) -> Path:
    body = ["worker:", "    mov r1, 0"]
    i = 0
    while len(body) < n:
        op = OPS[i % len(OPS)]
        body.append(op.format(i=i))
        if "{i}" in op:
            body.append(f".end{i}:")
        i += 1
    body.append("    halt")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prog.s").write_text(".word counter, 0\n" + "\n".join(body) + "\n")
    (folder / "scenario.toml").write_text('name = "big"\n[machines.host]\ncores = 1\nsources = ["prog.s"]\n'
                                          '[[threads]]\nname = "t0"\nentry = "worker"\n')
    return folder


def measure(folder: Path) -> tuple[float, float, int]:
    compiler._factories.clear()  # compile again: the cache would hide it
    t0 = time.perf_counter()
    sc = load_scenario(folder)
    options = validate_options(sc, RunOptions())
    image = assemble_scenario(sc, options)
    t1 = time.perf_counter()
    System(sc, options, image=image)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(image.machines["host"].code)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{'instructions':>12} {'assemble s':>11} {'compile s':>10} {'total s':>8} {'us/instr':>9}")
    with tempfile.TemporaryDirectory(prefix="revtrace-load-") as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            folder = write_program(n, Path(tmp) / f"p{n}")
            runs = [measure(folder) for _ in range(args.reps)]
            asm = statistics.median(r[0] for r in runs)
            comp = statistics.median(r[1] for r in runs)
            count = runs[0][2]
            print(f"{count:>12,} {asm:>11.3f} {comp:>10.3f} {asm + comp:>8.3f} {(asm + comp) / count * 1e6:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
