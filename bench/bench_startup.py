"""Start-up time of the command line, as a user meets it (not timed tests: figures for the README).

    python bench/bench_startup.py                 # 15 runs of each, medians
    python bench/bench_startup.py --repeat 31 --json
    python bench/bench_startup.py --python OTHER/.venv/bin/python --source /tmp/old-checkout   # a baseline

Each case is a fresh `python -m revtrace` process (this checkout, or --source's with --python's
packages, for a before/after comparison under the same load):
  python            `python -c pass`: the interpreter alone, the floor under every figure
  --help            `revtrace --help` (target < 0.3 s)
  last-writer       `revtrace last-writer RUN page0.flags:PG_dirty --before panic` on a recorded
                    nfs_vmxmon run whose index is already built (warm; target < 0.5 s)
  last-writer cold  the same on a fresh copy of the run, index built first (for comparison)
Reports the median wall time and the median CPU time (user + system of the child) per case, and
the load average: on the shared 2-core reference machine other work stretches wall time, CPU time
much less. Imports are what these figures are mostly made of: revtrace imports DuckDB and pyarrow
only in the commands that open a run, rich's tables only when it prints one (a test keeps
`import revtrace.cli` free of duckdb and pyarrow).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"--help": 0.3, "last-writer": 0.5}


ENV = dict(os.environ)


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(argv: list[str], repeat: int, prepare=None) -> dict:
    walls, cpus = [], []
    for _ in range(repeat):
        if prepare is not None:
            prepare()
        wall, cpu = timed(argv)
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_median": statistics.median(walls), "cpu_median": statistics.median(cpus),
            "wall_min": min(walls), "wall_max": max(walls), "runs": repeat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--python", default=sys.executable, help="The interpreter (and so the packages) to run.")
    ap.add_argument("--source", help="Run revtrace from this source tree (PYTHONPATH) instead of the installed one.")
    args = ap.parse_args()
    if args.source:
        ENV["PYTHONPATH"] = str(Path(args.source).resolve())
    python = args.python
    revtrace = [python, "-m", "revtrace"]
    work = Path(tempfile.mkdtemp(prefix="revtrace-startup-"))
    try:
        run = work / "v2"
        subprocess.run([*revtrace, "record", "nfs_vmxmon", "--cores", "2", "--seed", "69", "-o", str(run), "--json"],
                       check=True, stdout=subprocess.DEVNULL, env=ENV)
        query = ["last-writer", str(run), "page0.flags:PG_dirty", "--before", "panic"]
        subprocess.run([*revtrace, *query], check=True, stdout=subprocess.DEVNULL, env=ENV)  # builds the index
        cold = work / "cold"

        def fresh_copy() -> None:
            shutil.rmtree(cold, ignore_errors=True)
            shutil.copytree(run, cold, ignore=shutil.ignore_patterns("index*"))

        cases = {
            "python": measure([python, "-c", "pass"], args.repeat),
            "--help": measure([*revtrace, "--help"], args.repeat),
            "last-writer": measure([*revtrace, *query], args.repeat),
            "last-writer cold": measure([*revtrace, "last-writer", str(cold), *query[2:]], max(3, args.repeat // 3),
                                        prepare=fresh_copy),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"cases": cases, "targets": TARGETS, "load": load}, indent=2))
        return
    print(f"start-up, medians of {args.repeat} fresh processes (load average {load[0]:.1f}, "
          f"{os.cpu_count()} cores)")
    print(f"{'case':<18} {'wall':>8} {'cpu':>8} {'range':>15}  target")
    for name, c in cases.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else (f"< {target} s " + ("met" if c["wall_median"] < target else "MISSED"))
        print(f"{name:<18} {c['wall_median']:>7.3f}s {c['cpu_median']:>7.3f}s "
              f"{c['wall_min']:>6.3f}-{c['wall_max']:.3f}s  {verdict}")


if __name__ == "__main__":
    main()
