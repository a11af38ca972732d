"""Shared fixtures for the recording floor's tests: recorded runs, an independent re-execution
oracle, and helpers to damage or tamper with Arrow stream files.

Test modules reach the helpers through the `tr` fixture (never by importing this file by name:
tests/sim has a conftest.py too, and neither folder is a package).

    def test_x(rc_run, tr):
        ref = tr.reference_state(rc_run.meta, 10, ["counter"])  # re-run from the start, stop after seq 10
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from pyarrow import ipc


import tracer
from helpers import panicking_seeds
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from tracer import schema
from tracer.trace_stream import CHECKSUM_KEY, batch_checksum

# ---------------------------------------------------------------------------- the oracle


class StopAfter:
    """An observer of our own: counts reports and asks the system to stop right after report
    number `target` (0-based), which is what replay promises to reproduce. Keeps every report."""

    def __init__(self, target: int | None = None, keep: bool = False):
        self.target = target
        self.n = 0
        self.system = None
        self.keep = keep
        self.rows: list[tuple] = []

    def attach(self, system) -> None:
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=0):
        n = self.n
        self.n = n + 1
        if self.keep:
            self.rows.append((self.system.cycle, core.mid, core.index, core.thread.tid, site,
                              schema.KIND_NAMES[kind], addr, old, new, sync, bool(atomic), schema.MODE_NAMES[mode]))
        if n == self.target:
            self.system.stop_requested = True


def options_of(meta: dict) -> RunOptions:
    """The RunOptions a run was recorded with, read back from meta.json."""
    o = meta["options"]
    return RunOptions(variant=o["variant"], cores=o["cores"], seed=o["seed"], sched=o["sched"],
                      depth=o["depth"], quantum=o["quantum"], memory_model=o["memory_model"],
                      step_limit=o["step_limit"], params=tuple(sorted(o["params"].items())))


def reference_system(meta: dict, target: int | None, keep: bool = False) -> System:
    """Re-run the recorded scenario from the very start (no checkpoint), stopping after `target`."""
    obs = StopAfter(target, keep)
    system = System(load_scenario(meta["scenario"]), options_of(meta), observer=obs)
    system.run()
    return system


def symbol_names(run: tracer.RunDir) -> list[str]:
    return [r["name"] for r in run.table("symbols.parquet").to_pylist()]


def reference_state(meta: dict, target: int, names: list[str]) -> dict:
    """The state after event `target` computed by re-running from the start, in replay's terms."""
    s = reference_system(meta, target)
    cores = []
    for core in s.cores:
        t = core.thread
        cores.append({
            "machine": core.machine.name, "core": core.index,
            "thread": t.name if t else None,
            "pc": t.pc if t else None,
            "registers": {f"r{i}": v for i, v in enumerate(t.regs)} if t else {},
            "preempt_count": t.preempt if t else 0,
            "stack_depth": len(t.calls) if t else 0,
        })
    return {"cycle": s.cycle, "instructions": s.instructions, "cores": cores,
            "memory": {n: s.read_symbol(n) for n in names}}


def replayed_state(state: tracer.ReplayState) -> dict:
    return {"cycle": state.cycle, "instructions": state.instructions,
            "cores": [{"machine": c.machine, "core": c.core, "thread": c.thread, "pc": c.pc,
                       "registers": c.registers, "preempt_count": c.preempt_count,
                       "stack_depth": len(c.stack)} for c in state.cores],
            "memory": state.memory}


# ---------------------------------------------------------------------------- Arrow files


def batch_rows(path: Path) -> list[int]:
    reader = ipc.open_stream(pa.memory_map(str(path)))
    return [b.num_rows for b in reader]


def events_table(rows: list[dict]) -> pa.Table:
    """Row dicts back to an EVENTS table, `kind` coded against the recording's own dictionary."""
    arrays = []
    for f in schema.EVENTS:
        values = [r[f.name] for r in rows]
        if f.name == "kind":
            codes = pa.array([schema.KIND_NAMES.index(k) for k in values], pa.int8())
            arrays.append(pa.DictionaryArray.from_arrays(codes, schema.KIND_DICTIONARY))
        elif f.name == "mode":
            codes = pa.array([schema.MODE_NAMES.index(m) for m in values], pa.int8())
            arrays.append(pa.DictionaryArray.from_arrays(codes, schema.MODE_DICTIONARY))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema.EVENTS)


def rewrite_events(path: Path, change) -> None:
    """Rewrite a part file through `change(list of row dicts) -> None` (in place), as a valid
    stream with the recording's schema and one batch per original batch, each with its checksum
    recomputed and its other metadata kept (a forgery the checksums cannot see: what replay's
    verification is for)."""
    reader = ipc.open_stream(pa.memory_map(str(path)))
    batches, metas = [], []
    while True:
        try:
            b, m = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        batches.append(b)
        metas.append(dict(m) if m is not None else {})
    rows = pa.Table.from_batches(batches, schema.EVENTS).to_pylist()
    change(rows)
    table = events_table(rows)
    sizes = [b.num_rows for b in batches]
    tmp = Path(str(path) + ".new")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_stream(sink, schema.EVENTS) as w:
        start = 0
        for n, meta in zip(sizes, metas):
            for b in table.slice(start, n).combine_chunks().to_batches():
                meta[CHECKSUM_KEY] = b"%08x" % batch_checksum(b)
                w.write_batch(b, custom_metadata=meta)
            start += n
    tmp.replace(path)


def copy_run(src: Path | tracer.RunDir, dst: Path) -> tracer.RunDir:
    src = src.path if isinstance(src, tracer.RunDir) else Path(src)
    shutil.copytree(src, dst)
    return tracer.RunDir.open(dst)


def vclock_map(run: tracer.RunDir) -> dict[tuple[int, int], dict[int, int]]:
    vc: dict[tuple[int, int], dict[int, int]] = {}
    for r in run.vclocks().to_pylist():
        vc.setdefault((r["thread"], r["clock"]), {})[r["of_thread"]] = r["value"]
    return vc


def happens_before(vc, a: dict, b: dict) -> bool:
    """The documented one-comparison rule: a.clock <= VC(b.thread, b.clock)[a.thread]."""
    return a["clock"] <= vc[(b["thread"], b["clock"])][a["thread"]]


@pytest.fixture(scope="session")
def tr(arrow_messages):
    def batch_spans(path: Path) -> list[tuple[int, int]]:
        return [(a, b) for kind, a, b in arrow_messages(path) if kind == "record batch"]

    return SimpleNamespace(
        StopAfter=StopAfter, options_of=options_of, reference_system=reference_system,
        reference_state=reference_state, replayed_state=replayed_state, symbol_names=symbol_names,
        message_spans=arrow_messages, batch_spans=batch_spans, batch_rows=batch_rows,
        rewrite_events=rewrite_events, copy_run=copy_run, vclock_map=vclock_map,
        happens_before=happens_before, panicking_seeds=panicking_seeds)


# ---------------------------------------------------------------------------- recorded runs
# Session-scoped and read-only: a test that damages a run copies it first (tr.copy_run).

N = 20


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def rc_run(runs_root) -> tracer.RunDir:
    """race_counter, N=20, two cores."""
    return tracer.record("race_counter_asm", runs_root / "rc", cores=2, seed=3, params=(("N", N),),
                         show=["counter"])


@pytest.fixture(scope="session")
def lc_run(runs_root) -> tracer.RunDir:
    """locked_counter, N=20, two cores."""
    return tracer.record("locked_counter", runs_root / "lc", cores=2, seed=1, params=(("N", N),),
                         show=["counter"])


@pytest.fixture(scope="session")
def rc_batches(runs_root) -> tracer.RunDir:
    """race_counter with N=200 and a checkpoint (hence a flushed batch) every 100 instructions:
    about two dozen batches in one part file, and as many checkpoints."""
    return tracer.record("race_counter_asm", runs_root / "rc_batches", cores=2, seed=3, params=(("N", 200),),
                         checkpoint_every=100, show=["counter"])


@pytest.fixture(scope="session")
def nfs_panic(runs_root, nfs_seed) -> tracer.RunDir:
    """nfs_vmxmon v2 on two cores, a seed that hits the BUG_ON; checkpoints every 50 instructions."""
    return tracer.record("nfs_vmxmon", runs_root / "nfs_panic", cores=2, seed=nfs_seed, checkpoint_every=50)
