"""The bug corpus (data/scenarios/bugs/): every buggy variant fails under some schedule, no fixed
variant ever fails, and each declares what failing means (a [[checks]] entry or a BUG_ON)."""

from __future__ import annotations

import pytest

from sim.scenario import BUNDLED, RunOptions, load_scenario
from sim.system import System

BUGS = sorted(p.parent.name for p in (BUNDLED / "bugs").glob("*/scenario.toml"))
HANG = 100_000  # instructions: the corpus programs take a few thousand; a hang shows as step_limit fast
STRATEGIES = [{"sched": "random"}, {"sched": "random", "max_burst": 2}, {"sched": "pos"},
              {"sched": "pct", "depth": 2}, {"sched": "pct", "depth": 3}, {"sched": "pct-mc", "depth": 2}]


def test_the_corpus_has_at_least_ten_bugs():
    assert len(BUGS) >= 10, BUGS


@pytest.mark.parametrize("name", BUGS)
def test_each_bug_has_buggy_and_fixed_and_says_what_failing_means(name):
    sc = load_scenario(BUNDLED / "bugs" / name)
    assert {"buggy", "fixed"} <= set(sc.variants)
    sources = "".join((sc.folder / f).read_text() for f in sc.folder.iterdir() if f.suffix == ".s")
    assert sc.checks or "bug" in sources or sc.step_limit < 100_000, name


@pytest.mark.parametrize("name", BUGS)
def test_the_buggy_variant_fails_under_some_strategy(name):
    sc = load_scenario(BUNDLED / "bugs" / name)
    for options in STRATEGIES:
        for seed in range(40):
            if System(sc, RunOptions(variant="buggy", seed=seed, step_limit=min(HANG, sc.step_limit), **options)).run().outcome != "completed":
                return
    pytest.fail(f"{name}: no strategy fails the buggy variant in 40 seeds")


@pytest.mark.parametrize("name", BUGS)
def test_no_fixed_variant_ever_fails(name):
    sc = load_scenario(BUNDLED / "bugs" / name)
    for options in STRATEGIES:
        for seed in range(30):
            o = System(sc, RunOptions(variant="fixed", seed=seed, step_limit=min(HANG, sc.step_limit), **options)).run()
            assert o.outcome == "completed", (name, options, seed, o.as_dict())
