"""Bug hunting across seeds in worker processes: counts, failing seeds, kept runs, crashed workers."""

from __future__ import annotations

import os

import pytest

import tracer
from sim.errors import SimError
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from tracer import TraceError, sweep_session
from tracer.sweep_session import parse_seeds, sweep


@pytest.mark.parametrize("text, expected", [
    ("0..199", range(200)), ("7", range(7, 8)), (" 3 .. 5 ", range(3, 6)), ("5..5", range(5, 6))])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1..", "..4", "-3..4", "1...4", "1..2..3", "0x1..4", "1,2"])
def test_parse_seeds_malformed(text):
    with pytest.raises(TraceError, match="--seeds expects A..B"):
        parse_seeds(text)


def test_parse_seeds_empty_range():
    with pytest.raises(TraceError, match="empty"):
        parse_seeds("9..3")


def test_counts_sum_to_the_number_of_seeds():
    result = sweep("race_counter_asm", RunOptions(cores=2, params=(("N", 10),)), range(12), jobs=2)
    assert [r["seed"] for r in result.results] == list(range(12))
    assert sum(result.outcomes.values()) == 12
    assert result.outcomes == {"completed": 12}
    d = result.as_dict()
    assert d["runs"] == 12
    assert d["seeds"] == "0..11"
    assert d["failing"] == [] and d["hit_rate"] == 0.0 and d["errors"] == []


def test_results_match_plain_runs():
    sc = load_scenario("nfs_vmxmon")
    result = sweep("nfs_vmxmon", RunOptions(cores=2), range(20, 26), jobs=2)
    for r in result.results:
        outcome = System(sc, RunOptions(cores=2, seed=r["seed"])).run()
        assert (r["outcome"], r["instructions"], r["cycles"]) == \
            (outcome.outcome, outcome.instructions, outcome.cycles)


@pytest.fixture(scope="module")
def nfs_two_cores():
    return sweep("nfs_vmxmon", RunOptions(variant="v2", cores=2), range(61), jobs=2)


def test_nfs_v2_on_two_cores_hits_the_bug_on(nfs_two_cores):
    d = nfs_two_cores.as_dict()
    assert d["runs"] == 61
    assert sum(d["outcomes"].values()) == 61
    assert d["failing"], "no seed in 0..60 hit the BUG_ON"
    assert set(d["failing"]) <= set(range(61))
    assert d["options"]["variant"] == "v2" and d["options"]["cores"] == 2
    assert len(d["panic_sites"]) == 1
    site = d["panic_sites"][0]
    assert "BUG_ON(test_bit(PG_CLEAN, &req->wb_flags))" in site["message"]
    assert site["function"] == "nfs_page_async_flush"
    assert site["count"] == len(d["failing"])
    assert d["hit_rate"] == pytest.approx(len(d["failing"]) / 61)
    for r in d["failures"]:
        assert r["outcome"] == "panic" and r["panic"]["thread"] == "flusher"


def test_nfs_v2_on_one_core_never_fails():
    result = sweep("nfs_vmxmon", RunOptions(variant="v2", cores=1), range(61), jobs=2)
    assert result.as_dict()["failing"] == []
    assert result.outcomes == {"completed": 61}


def test_keep_records_each_failing_seed(tmp_path, nfs_two_cores):
    failing = nfs_two_cores.as_dict()["failing"][:2]
    seeds = range(failing[0], failing[-1] + 1)
    result = sweep("nfs_vmxmon", RunOptions(cores=2), seeds, jobs=2, keep=tmp_path / "keep")
    kept = {p.name for p in (tmp_path / "keep").iterdir()}
    assert kept == {f"seed-{s}" for s in failing}
    for r in result.failing:
        run = tracer.RunDir.open(r["run_dir"])
        assert run.meta["outcome"] == "panic"
        assert run.meta["seed"] == r["seed"]
        assert run.meta["truncated"] is False
        assert run.meta["panic"]["line"] == r["panic"]["line"]
        assert run.meta["instructions"] == r["instructions"]
        assert tracer.replay(run, "panic").event["kind"] == "panic"
    for r in result.results:
        assert ("run_dir" in r) == (r["outcome"] in sweep_session.FAILING)


def test_step_limit_counts_as_failing(tmp_path):
    result = sweep("race_counter_asm", RunOptions(step_limit=50), range(3), jobs=2, keep=tmp_path / "keep")
    assert result.outcomes == {"step_limit": 3}
    assert [r["seed"] for r in result.failing] == [0, 1, 2]
    for r in result.failing:
        assert tracer.RunDir.open(r["run_dir"]).meta["outcome"] == "step_limit"


def test_bad_arguments():
    with pytest.raises(SimError, match="no such scenario"):
        sweep("nope", RunOptions(), range(2))
    with pytest.raises(SimError, match="unknown variant"):
        sweep("nfs_vmxmon", RunOptions(variant="v9"), range(2))
    with pytest.raises(TraceError, match="-j"):
        sweep("race_counter_asm", RunOptions(), range(2), jobs=0)


def test_empty_range_through_the_api():
    with pytest.raises(TraceError) as e:
        sweep("race_counter_asm", RunOptions(), range(3, 3))
    assert str(e.value) == "the seed range is empty"


def test_unwritable_keep(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TraceError, match="--keep") as e:
        sweep("race_counter_asm", RunOptions(), range(2), keep=f / "keep")
    assert str(f / "keep") in str(e.value)


# Module-level, so that the forked workers can unpickle them by reference.
_real_run_seed = sweep_session.run_seed
CRASHING_SEED = 5
RAISING_SEED = 2


def _crashing_run_seed(scenario, options, seed, keep, *rest):
    if seed == CRASHING_SEED:
        os._exit(3)
    if seed == RAISING_SEED:
        raise ZeroDivisionError("a bug in the worker")
    return _real_run_seed(scenario, options, seed, keep, *rest)


def test_a_crashing_worker_is_reported_and_the_sweep_goes_on(monkeypatch):
    monkeypatch.setattr(sweep_session, "run_seed", _crashing_run_seed)
    progress = []
    result = sweep("race_counter_asm", RunOptions(cores=2, params=(("N", 10),)), range(9), jobs=2,
                   progress=progress.append)
    by_seed = {r["seed"]: r for r in result.results}
    assert sorted(by_seed) == list(range(9))  # every seed reported exactly once
    assert len(result.results) == 9
    assert by_seed[CRASHING_SEED]["outcome"] == "crashed"
    assert by_seed[RAISING_SEED]["outcome"] == "error"
    assert "ZeroDivisionError" in by_seed[RAISING_SEED]["error"]
    for seed, r in by_seed.items():
        if seed not in (CRASHING_SEED, RAISING_SEED):
            assert r["outcome"] == "completed", r
    assert result.outcomes == {"completed": 7, "crashed": 1, "error": 1}
    assert sorted(r["seed"] for r in result.errors) == sorted([CRASHING_SEED, RAISING_SEED])
    assert result.as_dict()["failing"] == []
    assert sorted(r["seed"] for r in progress) == list(range(9))


def test_pct_does_not_starve_a_lock_holder():
    """A higher-priority thread that busy-waits for a page lock must let the holder run (PCT keeps
    strict priorities, so a retry loop that never sleeps or spins would hang the run)."""
    result = sweep("nfs_vmxmon", RunOptions(cores=3, sched="pct", step_limit=100_000), range(10), jobs=2)
    assert "step_limit" not in result.outcomes
