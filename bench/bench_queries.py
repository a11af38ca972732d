"""Benchmarks of the query floor on a synthetic run (not timed tests: figures for the README).

    python bench/bench_queries.py --events 10_000_000            # generates bench/out/synth-10m
    python bench/bench_queries.py --run bench/out/synth-100m --skip races
    python bench/bench_queries.py --run bench/out/synth-10m --repeat 5   # median of 5 runs each

and on a real recording, e.g. race_counter with 10M events (the issue's other index-size figure;
the build phase reports the recording's and the index's bytes per event):

    revtrace record race_counter_asm -o bench/out/race-counter-10m -c 2 -s 1 -p N=2500000 \
        --step-limit 100000000
    python bench/bench_queries.py --run bench/out/race-counter-10m --skip races-all --skip windows

Measures, each phase in a fresh process (so that peak RSS is the phase's own):
  build        index build from the Arrow events: events/s (target >= 3M/s)
  last-writer  median over many random targets (words and word:bit, random --before), warm,
               through the Python API (target <= 5 ms); the SQL file's latency for comparison
  races        the whole race report with the kernel's rules (KCSAN: never two marked or atomic
               accesses; the recorder's happens-before) (targets 5 s for 10M accesses, 20 s
               for 100M); the engine works on two chunks at once in threads when there are two
               cores (--workers 1: one at a time, for the CPU figure without the second core)
  races-all    the same with --all-pairs: every distinct racing site pair (no target: its cost
               against races is the figure)
  windows      every declared invariant (target <= 10 s for 100M events)
and prints a table with wall time, CPU time, peak RSS and the machine's load average (the
reference machine has 2 cores; other work on it slows everything down, and so do the page cache's
dirty-page limits when a build writes more than the kernel lets it buffer). With --repeat N each
phase runs N times and the table shows the run with the median figure (and the range).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"build": ("events/s", 3_000_000, ">="), "last-writer": ("ms median", 5.0, "<="),
           "races": ("s", 5.0, "<="), "races-all": ("s", 5.0, "<="), "windows": ("s", 10.0, "<=")}


def races_target(accesses: int) -> float:
    """The issue's targets: 5 s for 10M accesses, 20 s for 100M (linear in between)."""
    if accesses <= 10_000_000:
        return 5.0
    return 5.0 + 15.0 * min(1.0, (accesses - 10_000_000) / 90_000_000)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _MemorySampler:
    """Peak anonymous (private) and file-backed (memory-mapped) RSS, sampled from /proc."""

    def __init__(self, every: float = 0.05):
        import threading
        self.anon = self.file = 0
        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        self.anon = max(self.anon, int(line.split()[1]) // 1024)
                    elif line.startswith("RssFile:"):
                        self.file = max(self.file, int(line.split()[1]) // 1024)
            except OSError:
                return
            self.stop.wait(self.every)

    def close(self) -> tuple[int, int]:
        self.stop.set()
        self.thread.join()
        return self.anon, self.file


def phase(name: str, run_dir: Path, samples: int, workers: int | None = None) -> dict:
    import queries

    sampler = _MemorySampler()
    out: dict = {"phase": name}
    if name == "build":
        t0, c0 = time.perf_counter(), _cpu()
        run = queries.open_run(run_dir, rebuild=True, progress=False)
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = _cpu() - c0
        out["events"] = run.events
        out["rate"] = run.events / out["seconds"]
        out["stages"] = {k: round(v, 2) for k, v in run.index.stats.items()}
        out["index_mb"] = index_bytes(run_dir) / 1e6
        out["index_per_event"] = index_bytes(run_dir) / run.events
        out["recording_per_event"] = recording_bytes(run_dir) / run.events
    elif name == "last-writer":
        run = queries.open_run(run_dir, progress=False)
        rng = random.Random(1)
        words = sorted(run.names.words.values())
        bits = sorted(run.names.bits)
        targets = []
        for _ in range(samples):
            t = rng.choice(words)
            if bits and rng.random() < 0.3:
                t += ":" + rng.choice(bits)
            targets.append((t, rng.randrange(run.end + 1)))
        run.last_writer(*targets[0])  # warm: names, the accesses' mapping
        times = []
        t0, c0 = time.perf_counter(), _cpu()
        for t, before in targets:
            s = time.perf_counter()
            run.last_writer(t, before=before)
            times.append(time.perf_counter() - s)
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = _cpu() - c0
        out["median_ms"] = statistics.median(times) * 1e3
        out["p99_ms"] = sorted(times)[int(len(times) * 0.99) - 1] * 1e3
        out["samples"] = len(times)
        sql_times = []
        for t, before in targets[:40]:
            s = time.perf_counter()
            run.last_writer(t, before=before, engine="sql")
            sql_times.append(time.perf_counter() - s)
        out["sql_median_ms"] = statistics.median(sql_times) * 1e3
    elif name in ("races", "races-all"):
        run = queries.open_run(run_dir, progress=False)
        accesses = int(run.sql("SELECT value FROM index_info WHERE key = 'accesses'").to_pylist()[0]["value"])
        t0, c0 = time.perf_counter(), _cpu()
        from queries import races as races_mod
        found = races_mod.races(run, all_pairs=name == "races-all", workers=workers)
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = _cpu() - c0
        out["accesses"] = accesses
        out["groups"] = len(found)
        out["pairs"] = sum(g["count"] for g in found)
    elif name == "windows":
        run = queries.open_run(run_dir, progress=False)
        t0, c0 = time.perf_counter(), _cpu()
        found = run.windows()
        out["seconds"] = time.perf_counter() - t0
        out["cpu"] = _cpu() - c0
        out["events"] = run.events
        out["invariants"] = len(run.invariants())
        out["windows"] = len(found)
    out["peak_rss_mb"] = _peak_mb()
    out["peak_anon_mb"], out["peak_mapped_mb"] = sampler.close()
    return out


def recording_bytes(run_dir: Path) -> int:
    """The recording on disk: its events and vector clocks."""
    return sum(p.stat().st_size for folder in ("events", "vclocks") for p in (run_dir / folder).glob("*.arrows"))


def index_bytes(run_dir: Path) -> int:
    """The query index on disk: index.duckdb and the column files."""
    return (run_dir / "index.duckdb").stat().st_size + sum(f.stat().st_size for f in (run_dir / "index").iterdir())


def side_by_side(before: dict, now: dict, now_run: Path) -> None:
    """Each phase's figure before (an earlier `--json` run, e.g. of an older commit) and now."""
    from rich.console import Console
    from rich.table import Table

    b = {r["phase"]: r for r in before["results"]}
    n = {r["phase"]: r for r in now["results"]}
    t = Table(title=f"before ({before['run']}) and now ({now_run})", title_justify="left")
    for col in ("figure", "before", "now", "now / before"):
        t.add_column(col)

    def row(label, value, fmt):
        x, y = value(b), value(n)
        if x is not None and y is not None:
            t.add_row(label, fmt(x), fmt(y), f"{y / x:.2f}x" if x else "")

    def get(phase, key):
        return lambda d: d.get(phase, {}).get(key)

    runs = {id(b): Path(before["run"]), id(n): now_run}

    def per_event(size):
        return lambda d: size(runs[id(d)]) / d["build"]["events"] if "build" in d else None

    row("recording, bytes/event", per_event(recording_bytes), lambda v: f"{v:.1f}")
    row("index, bytes/event", per_event(index_bytes), lambda v: f"{v:.1f}")
    row("build, events/s", get("build", "rate"), lambda v: f"{v / 1e6:.2f}M")
    row("build, peak private MB", get("build", "peak_anon_mb"), lambda v: f"{v:.0f}")
    row("last-writer, median ms", get("last-writer", "median_ms"), lambda v: f"{v:.3f}")
    row("races, s", get("races", "seconds"), lambda v: f"{v:.2f}")
    row("windows, s", get("windows", "seconds"), lambda v: f"{v:.2f}")
    Console().print(t)


def run_phase(name: str, run_dir: Path, samples: int, workers: int | None = None) -> dict:
    extra = ["--workers", str(workers)] if workers else []
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "--run", str(run_dir),
                           "--samples", str(samples), *extra], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    p.add_argument("--run", type=Path, help="an existing run directory (default: generate one)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--samples", type=int, default=2000, help="last-writer look-ups")
    p.add_argument("--skip", action="append", default=[], choices=list(TARGETS))
    p.add_argument("--repeat", type=int, default=1, help="runs of each phase (the median is shown)")
    p.add_argument("--workers", type=int, help="chunks the race engine works on at once (default: one per core, at most 2)")
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--before", type=Path, help="a JSON written by an earlier --json run (e.g. of an older "
                                                 "commit, on its own synthetic run): print both side by side")
    args = p.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, args.run, args.samples, args.workers)))
        return
    run_dir = args.run
    if run_dir is None:
        run_dir = ROOT / "bench" / "out" / f"synth-{args.events // 1_000_000}m"
        if not (run_dir / "meta.json").exists():
            sys.path.insert(0, str(ROOT / "bench"))
            from synthetic_run import write_run
            t0 = time.perf_counter()
            info = write_run(run_dir, args.events, args.seed)
            print(f"generated {info['events']:,} events in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results = []
    for name in TARGETS:
        if name in args.skip:
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        runs = [run_phase(name, run_dir, args.samples, args.workers) for _ in range(max(args.repeat, 1))]
        key = (lambda r: r["median_ms"]) if name == "last-writer" else (lambda r: r["seconds"])
        runs.sort(key=key)
        chosen = dict(runs[len(runs) // 2])
        chosen["runs"] = len(runs)
        chosen["range"] = [key(runs[0]), key(runs[-1])]
        results.append(chosen)
    load = os.getloadavg()
    if args.before is not None:
        side_by_side(json.loads(args.before.read_text()), {"results": results}, run_dir)
    if args.json:
        print(json.dumps({"run": str(run_dir), "load": load, "results": results}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{run_dir} (load average {load[0]:.1f}, {os.cpu_count()} cores)", title_justify="left")
    for col in ("phase", "figure", "target", "ratio", "wall s", "cpu s", "peak RSS MB (private + mapped)", "notes"):
        table.add_column(col)
    for r in results:
        _, target, _ = TARGETS[r["phase"]]
        if r["phase"] == "build":
            figure, notes = r["rate"], (f"{r['events']:,} events, index {r['index_mb']:.0f} MB; bytes/event: "
                                        f"recording {r['recording_per_event']:.1f}, index {r['index_per_event']:.1f}")
            ratio = figure / target
            shown = f"{figure / 1e6:.2f}M events/s"
            tshown = "≥ 3M events/s"
        elif r["phase"] == "last-writer":
            figure = r["median_ms"]
            ratio = target / figure
            shown = f"{figure:.3f} ms median (p99 {r['p99_ms']:.3f})"
            tshown = "≤ 5 ms"
            notes = f"{r['samples']} look-ups; SQL file: {r['sql_median_ms']:.1f} ms median"
        elif r["phase"] in ("races", "races-all"):
            figure = r["seconds"]
            target = races_target(r["accesses"])
            ratio = target / figure
            shown = f"{figure:.2f} s"
            tshown = f"≤ {target:.0f} s" + (" (as races)" if r["phase"] == "races-all" else "")
            notes = f"{r['accesses']:,} accesses, {r['pairs']:,} racing pairs in {r['groups']:,} site pairs"
        else:
            figure = r["seconds"]
            ratio = target / figure
            shown = f"{figure:.2f} s"
            tshown = "≤ 10 s / 100M events"
            notes = f"{r['events']:,} events, {r['invariants']} invariants, {r['windows']:,} windows"
        if r["runs"] > 1:
            lo, hi = r["range"]
            notes += (f"; median of {r['runs']}, {lo:.3f}-{hi:.3f} ms" if r["phase"] == "last-writer"
                      else f"; median of {r['runs']}, {lo:.2f}-{hi:.2f} s")
        table.add_row(r["phase"], shown, tshown, f"{ratio:.1f}x", f"{r['seconds']:.2f}", f"{r['cpu']:.2f}",
                      f"{r['peak_rss_mb']:.0f} ({r['peak_anon_mb']} + {r['peak_mapped_mb']})", notes)
    Console().print(table)


if __name__ == "__main__":
    main()
