"""What naming C stack words costs (queries/stack_names.py), on a C run that uses its frames a lot.

    python bench/bench_stack_names.py                 # 2 threads x 20,000 rounds (about 1M events)
    python bench/bench_stack_names.py --rounds 5000 --repeat 3

The scenario (written to a temporary folder): two threads each run ROUNDS rounds of a function
with a struct local and an array local that a callee fills through a pointer (accesses through
pointers: named by the recorded frames at index build), a recursion three deep with an array
local (a frame per call), direct frame accesses (named by their site), and an unlocked global counter
(a race). Measured, each in a fresh process (`--phase`): recording (wall, CPU, and how many frames
the recorder kept), the index build (wall and CPU; the stack-naming step's share is timed on its
own), last-writer on a local target and on the global (median of many look-ups), and races (both
with the stack words left out, as always). The figures for the README come from here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROGRAM = """
#include <linux/sched.h>
struct req { unsigned long flags; long data[2]; };
long counter;
void fill(struct req *r, long *extra, long v) { r->flags = v & 7; r->data[0] = v; r->data[1] = -v; *extra = v * 2; }
long depth(long n) { long here[1] = { n }; if (n > 0) here[0] += depth(n - 1); return here[0]; }
void worker(void)
{
	for (long i = 0; i < ROUNDS; i++) {
		struct req r;
		long extra[2];
		fill(&r, &extra[i & 1], i);
		extra[(i + 1) & 1] = r.data[0] + depth(2);
		counter++;
		cond_resched();
	}
}
"""

SCENARIO = """name = "stack_names_bench"
[params]
ROUNDS = {rounds}
[machines.m]
cores = 2
sources = ["prog.c"]
[[threads]]
name = "a"
entry = "worker"
[[threads]]
name = "b"
entry = "worker"
"""


def _cpu() -> float:
    r = resource_usage()
    return r.ru_utime + r.ru_stime


def resource_usage():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF)


def phase(name: str, folder: Path, run_dir: Path, samples: int) -> dict:
    t0, c0 = time.perf_counter(), _cpu()
    if name == "record":
        import pyarrow.parquet as pq

        import tracer
        run = tracer.record(folder, run_dir, cores=2, seed=1, background=False, force=True)
        return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "events": run.meta["events"],
                "frames": pq.ParquetFile(run_dir / "frames.parquet").metadata.num_rows}
    from queries import index as index_mod
    from queries import open_run
    if name == "build":
        timed = {}
        original = index_mod._name_stack_words

        def naming(*a):
            s, c = time.perf_counter(), _cpu()
            original(*a)
            timed.update(naming_seconds=time.perf_counter() - s, naming_cpu=_cpu() - c)
        index_mod._name_stack_words = naming
        with open_run(run_dir, progress=False, rebuild=True) as r:
            named = r.sql("SELECT count(*) AS n FROM stack_names").to_pylist()[0]["n"]
            stack = r.sql("SELECT count(*) AS n FROM accesses a JOIN stacks s ON a.addr >= s.lo AND a.addr < s.hi"
                          ).to_pylist()[0]["n"]
        return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "stack_accesses": stack,
                "pointer_named": named, **timed}
    with open_run(run_dir, progress=False) as r:
        if name == "last-writer":
            out = {}
            for label, target in (("local", "a:worker.r.data[1]"), ("global", "counter")):
                r.last_writer(target)  # warm
                step = max(1, r.end // samples)
                times = []
                for before in range(1, r.end, step):
                    s = time.perf_counter()
                    r.last_writer(target, before=before)
                    times.append(time.perf_counter() - s)
                out[f"{label}_median_ms"] = statistics.median(times) * 1e3
            return out
        if name == "races":
            races = r.races()
            return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "groups": len(races),
                    "stack_words_reported": sum(w.startswith(("a:", "b:", "__stack_"))
                                                for g in races for w in g["words"])}
    raise SystemExit(f"unknown phase {name}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, args.folder, args.run, args.samples)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenario"
        folder.mkdir()
        (folder / "prog.c").write_text(PROGRAM)
        (folder / "scenario.toml").write_text(SCENARIO.format(rounds=args.rounds))
        run_dir = Path(tmp) / "run"
        results: dict[str, list[dict]] = {}
        for _ in range(max(args.repeat, 1)):
            for name in ("record", "build", "last-writer", "races"):
                proc = subprocess.run([sys.executable, __file__, "--phase", name, "--folder", str(folder),
                                       "--run", str(run_dir), "--samples", str(args.samples)],
                                      capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise SystemExit(f"phase {name} failed:\n{proc.stderr}")
                results.setdefault(name, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    summary = {}
    for name, runs in results.items():
        keys = runs[0].keys()
        summary[name] = {k: statistics.median(r[k] for r in runs) for k in keys}
    summary["load"] = os.getloadavg()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
