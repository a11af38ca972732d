"""`revtrace hunt`: race-directed hunting, then reads-from coverage; the failing run recorded."""

from __future__ import annotations

import json

import pytest

from hunt import hunt
from sim.scenario import BUNDLED, RunOptions, load_scenario
from sim.system import System
from helpers import invoke, ok, refused

BUGS = sorted(p.parent.name for p in (BUNDLED / "bugs").glob("*/scenario.toml"))
HANG = 100_000  # instructions: the corpus programs take a few thousand; a hang shows as step_limit fast


def capped(name: str, variant: str) -> RunOptions:
    return RunOptions(variant=variant, step_limit=min(HANG, load_scenario(BUNDLED / "bugs" / name).step_limit))


@pytest.mark.parametrize("name", BUGS)
def test_every_buggy_variant_is_found_within_100_runs(name):
    r = hunt(str(BUNDLED / "bugs" / name), capped(name, "buggy"), seed=0, budget=100,
             jobs=2)
    assert r.found, (name, r.as_dict())
    assert r.runs <= 100
    assert r.failure["outcome"] in ("panic", "deadlock", "step_limit", "check_failed")


@pytest.mark.parametrize("name", BUGS)
def test_no_fixed_variant_fails_under_hunt(name):
    r = hunt(str(BUNDLED / "bugs" / name), capped(name, "fixed"), seed=0, budget=16,
             jobs=2)
    assert not r.found, (name, r.failure)
    assert r.runs == 16


def test_the_nfs_race_is_reversed_and_the_failing_run_replays(tmp_path):
    """A passing seed of NFS v2; reversing one of its racing pairs reaches the BUG_ON, and the
    recording of that run holds its schedule: replay re-executes it to the same panic."""
    import tracer
    from queries import open_run

    sc = load_scenario("nfs_vmxmon")
    start = next(s for s in range(50)
                 if System(sc, RunOptions(cores=2, seed=s, sched="directed", max_burst=4)).run().outcome == "completed")
    r = hunt("nfs_vmxmon", RunOptions(cores=2), seed=start, budget=100, out=tmp_path / "found")
    assert r.found and r.passing_seed == start
    assert r.failure["phase"] in ("race", "coverage")
    assert r.racing_pairs > 0
    assert r.failure["panic"]["function"] == "nfs_page_async_flush"
    meta = json.loads((tmp_path / "found" / "meta.json").read_text())
    assert meta["outcome"] == "panic"
    assert meta["options"]["sched"] == "directed"
    assert [list(d) for d in meta["options"]["directives"]] == r.failure["directives"]
    with open_run(tmp_path / "found") as run:
        panic = run.panic_seq
    state = tracer.replay(tmp_path / "found", panic)
    assert state is not None
    # the recording keeps its schedule: following it, whatever the seed and scheduler, panics again
    from sim.schedule import Schedule

    schedule = Schedule.load(tmp_path / "found" / "schedule.json")
    again = System(sc, RunOptions(cores=2, seed=12345), schedule=schedule).run()
    assert again.as_dict() == System(sc, RunOptions(cores=2, sched="directed", max_burst=4, seed=r.failure["seed"],
                                                    directives=tuple(map(tuple, r.failure["directives"])))
                                     ).run().as_dict()
    assert again.outcome == "panic"


def test_a_hunt_is_deterministic_whatever_the_workers():
    a = hunt(str(BUNDLED / "bugs" / "twostage"), RunOptions(), seed=3, budget=100, jobs=1)
    b = hunt(str(BUNDLED / "bugs" / "twostage"), RunOptions(), seed=3, budget=100, jobs=2)
    assert a.as_dict() == b.as_dict()


def test_hunt_command_text_and_json(tmp_path):
    res = ok(invoke("hunt", BUNDLED / "bugs" / "wronglock", "--seed", "2", "-o", tmp_path / "w"))
    assert "found after" in res.stdout and "recorded:" in res.stdout
    res = ok(invoke("hunt", BUNDLED / "bugs" / "wronglock", "--variant", "fixed", "--budget", "10", "--json"))
    d = json.loads(res.stdout)
    assert d["found"] is False and d["runs"] == 10


@pytest.mark.parametrize("args,fragment", [
    (["--budget", "1"], "--budget must be at least 2"),
    (["--engine", "spark"], "unknown engine 'spark'"),
    (["--variant", "buggyy"], "unknown variant 'buggyy'"),
    (["--max-burst", "0"], "--max-burst must be between 1 and 65536"),
])
def test_hunt_bad_input(args, fragment):
    refused(invoke("hunt", BUNDLED / "bugs" / "wronglock", *args), fragment)


def test_hunt_refuses_a_scenario_that_does_not_assemble(tmp_path):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(BUNDLED / "bugs" / "wronglock", folder)
    (folder / "wronglock.s").write_text((folder / "wronglock.s").read_text().replace("halt", "hlt", 1))
    refused(invoke("hunt", folder), "wronglock.s:")


def test_hunt_refuses_an_existing_out_without_force(tmp_path):
    (tmp_path / "x").mkdir()
    refused(invoke("hunt", BUNDLED / "bugs" / "wronglock", "-o", tmp_path / "x"), "already exists")


def test_a_window_of_the_passing_run_becomes_a_hold_of_the_thread_that_closed_it(tmp_path):
    """reorder's setter breaks `a + b == 0` (words wrap: 1 + (-1) is 0) between its two stores: the
    passing run's window is closed by the store to b, so the hunt holds the setter just there."""
    import shutil

    import tracer
    from hunt.targets import directives_from

    folder = tmp_path / "reorder"
    shutil.copytree(BUNDLED / "bugs" / "reorder", folder)
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text() + '\n[[invariants]]\nname = "pair written together"\nexpr = "a + b == 0"\n')
    sc = load_scenario(folder)
    seed = next(s for s in range(50) if System(sc, RunOptions(seed=s)).run().outcome == "completed")
    run = tracer.record(sc, tmp_path / "run", options=RunOptions(seed=seed))
    directives, seen = directives_from(run.path)
    assert seen["windows"] >= 1
    image = System(sc, RunOptions()).image
    holds = [d for d in directives if d[4] == -1]
    assert holds and all(image.sites[d[1]].text.startswith("st [b]") for d in holds)
    assert {sc.threads[d[0]].name for d in holds} <= {"setter0", "setter1"}
