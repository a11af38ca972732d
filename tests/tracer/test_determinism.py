"""Same scenario, options and seed: byte-identical event data, even across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import tracer

CONFIGS = {
    "nfs": ("nfs_vmxmon", {"cores": 2, "seed": 8, "checkpoint_every": 100}),
    "nfs_pct": ("nfs_vmxmon", {"cores": 2, "seed": 24, "sched": "pct"}),
    "sb_tso": ("sb", {"seed": 17, "memory_model": "tso"}),
    "rc": ("race_counter_asm", {"cores": 2, "seed": 11, "params": (("N", 300),)}),
}

CHILD = textwrap.dedent("""
    import sys, tracer
    configs = {configs!r}
    for name, (scenario, kw) in configs.items():
        tracer.record(scenario, sys.argv[1] + "/" + name, **kw)
""")


def _record_in_subprocess(out, hash_seed):
    out.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    subprocess.run([sys.executable, "-c", CHILD.format(configs=CONFIGS), str(out)], check=True, env=env,
                   timeout=120, capture_output=True)


def _data_files(run_path):
    return sorted(p.relative_to(run_path) for p in run_path.glob("*/part-*.arrows"))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    a, b = root / "a", root / "b"
    _record_in_subprocess(a, 1)
    _record_in_subprocess(b, 2)  # a different hash seed: no set or dict iteration order may leak
    return a, b


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_two_processes_write_identical_bytes(two_processes, name):
    a, b = (p / name for p in two_processes)
    files = _data_files(a)
    assert any(str(f).startswith("events") for f in files)
    assert any(str(f).startswith("vclocks") for f in files)
    assert files == _data_files(b)
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    ra, rb = tracer.RunDir.open(a), tracer.RunDir.open(b)
    assert ra.meta == rb.meta
    for table in ("symbols.parquet", "sites.parquet", "threads.parquet", "bits.parquet",
                  "checkpoints/index.parquet"):
        assert ra.table(table).equals(rb.table(table)), table


def test_the_recording_process_matches_this_one(two_processes, tmp_path):
    scenario, kw = CONFIGS["nfs"]
    here = tracer.record(scenario, tmp_path / "here", **kw)
    there = two_processes[0] / "nfs"
    for f in _data_files(there):
        assert (here.path / f).read_bytes() == (there / f).read_bytes()


def test_different_seeds_differ(two_processes, tmp_path):
    scenario, kw = CONFIGS["nfs"]
    other = tracer.record(scenario, tmp_path / "other", **dict(kw, seed=kw["seed"] + 1))
    there = tracer.RunDir.open(two_processes[0] / "nfs")
    assert (other.path / "events" / "part-00000.arrows").read_bytes() != \
        (there.path / "events" / "part-00000.arrows").read_bytes()
    assert not other.events().equals(there.events())


def test_different_options_differ(tmp_path):
    a = tracer.record("sb", tmp_path / "sc", seed=17, memory_model="sc")
    b = tracer.record("sb", tmp_path / "tso", seed=17, memory_model="tso")
    assert not a.events().equals(b.events())


def test_checkpoint_interval_does_not_change_the_events(tmp_path, nfs_seed):
    """Pausing to checkpoint must not perturb the run: the same events with or without them."""
    a = tracer.record("nfs_vmxmon", tmp_path / "few", cores=2, seed=nfs_seed)
    b = tracer.record("nfs_vmxmon", tmp_path / "many", cores=2, seed=nfs_seed, checkpoint_every=7)
    assert len(b.table("checkpoints/index.parquet")) > 50
    assert a.events().equals(b.events())
    assert a.vclocks().equals(b.vclocks())
    assert a.meta["outcome"] == b.meta["outcome"] == "panic"
    assert a.meta["panic"] == b.meta["panic"]


def test_recording_does_not_change_the_run(tmp_path):
    """The observer is passive: a plain run and a recorded run end identically."""
    from sim.scenario import RunOptions, load_scenario
    from sim.system import System

    run = tracer.record("nfs_vmxmon", tmp_path / "r", cores=2, seed=22, show=["page0.flags", "req0.wb_flags"])
    plain = System(load_scenario("nfs_vmxmon"), RunOptions(cores=2, seed=22))
    outcome = plain.run()
    assert outcome.outcome == run.meta["outcome"]
    assert (outcome.instructions, outcome.cycles) == (run.meta["instructions"], run.meta["cycles"])
    assert {n: plain.read_symbol(n) for n in run.meta["memory"]} == run.meta["memory"]
