"""Strategies: random --max-burst, PCT's k (measured, --pct-steps), pct-mc and POS."""

from __future__ import annotations

import pytest

from sim import strategies
from sim.errors import ScenarioError
from sim.scenario import RunOptions, load_scenario
from sim.system import System

NFS = load_scenario("nfs_vmxmon")
RACE = load_scenario("race_counter_asm")


class Bursts:
    """Wraps a scheduler and keeps every burst it asked for."""

    def __init__(self, inner):
        self.inner, self.bursts, self.picks = inner, [], []

    def pick(self, active, instructions):
        core, n = self.inner.pick(active, instructions)
        self.bursts.append(n)
        self.picks.append((core.gid, n))
        return core, n

    def state(self):
        return self.inner.state()


def picks(scenario, **options):
    system = System(scenario, RunOptions(**options))
    system.scheduler = spy = Bursts(system.scheduler)
    outcome = system.run()
    return outcome.as_dict(), spy


@pytest.mark.parametrize("n", [1, 3, 7])
def test_max_burst_bounds_every_burst(n):
    _, spy = picks(RACE, seed=4, max_burst=n)
    assert max(spy.bursts) == n and min(spy.bursts) == 1


def test_the_default_random_scheduler_is_unchanged():
    """--max-burst 32 is the default's range, but the default keeps its own draws (old seeds replay)."""
    _, default = picks(RACE, seed=4)
    assert max(default.bursts) <= 32
    _, explicit = picks(RACE, seed=4, max_burst=32)
    assert default.picks == explicit.picks


@pytest.mark.parametrize("sched,extra", [("pos", {}), ("pct-mc", {"depth": 3}), ("pct", {"depth": 2}),
                                         ("random", {"max_burst": 2})])
def test_each_strategy_is_a_function_of_the_seed(sched, extra):
    runs = [picks(NFS, cores=2, seed=s, sched=sched, **extra) for s in (5, 5, 6)]
    assert runs[0][0] == runs[1][0] and runs[0][1].picks == runs[1][1].picks
    assert runs[0][1].picks != runs[2][1].picks


def test_pct_steps_default_is_measured_from_the_seed_zero_run():
    sc = load_scenario("race_counter_asm")
    assert sc.pct_steps == 0
    first = System(sc, RunOptions(seed=0)).run().instructions
    assert strategies.pct_steps(sc, RunOptions(sched="pct")) == first
    system = System(sc, RunOptions(sched="pct", depth=3, seed=9))
    assert all(1 <= cp < first for cp in system.scheduler.change_points)
    system = System(sc, RunOptions(sched="pct", depth=3, seed=9, pct_steps=40))
    assert all(1 <= cp < 40 for cp in system.scheduler.change_points)
    assert strategies.pct_steps(NFS, RunOptions(sched="pct")) == NFS.pct_steps  # the scenario's own


def test_pct_mc_counts_only_steps_where_cores_overlap():
    one = System(NFS, RunOptions(cores=1, sched="pct-mc", seed=3))
    two = System(NFS, RunOptions(cores=2, sched="pct-mc", seed=3))
    o1, o2 = one.run(), two.run()
    # on one core the client never overlaps itself; only the server's core runs beside it
    assert one.scheduler.overlap < o1.instructions
    assert 0 < two.scheduler.overlap <= o2.instructions


def test_pct_finds_a_lost_update_on_a_small_program_with_the_measured_k(tmp_path):
    """PCT with k = 20,000 on a ~300-step program never passed a change point; measured, it does."""
    def hits(k):
        n = 0
        for seed in range(60):
            system = System(RACE, RunOptions(sched="pct", depth=2, seed=seed, params=(("N", 5),), pct_steps=k))
            system.run()
            n += system.read_symbol("counter") != 10
        return n
    assert hits(20_000) == 0
    assert hits(None) > 0


def test_pos_reaches_the_nfs_bug_more_often_than_random():
    def rate(**o):
        return sum(System(NFS, RunOptions(cores=2, seed=s, **o)).run().outcome == "panic" for s in range(60))
    assert rate(sched="pos") > rate(sched="random")


def test_pos_snapshot_resumes_exactly():
    a = System(NFS, RunOptions(cores=2, seed=11, sched="pos"))
    assert a.run(pause_at=300) is None
    blob = a.snapshot()
    b = System(NFS, RunOptions(cores=2, seed=11, sched="pos"))
    b.restore(blob)
    assert b.run().as_dict() == a.run().as_dict()


@pytest.mark.parametrize("options,fragment", [
    ({"max_burst": 0}, "--max-burst must be between 1 and 65536"),
    ({"max_burst": 4, "sched": "pct"}, "--max-burst applies to the random scheduler"),
    ({"pct_steps": 1, "sched": "pct"}, "--pct-steps must be at least 2"),
    ({"sched": "pso"}, "unknown scheduler 'pso'"),
])
def test_bad_strategy_options(options, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        System(RACE, RunOptions(**options))
