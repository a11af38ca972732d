"""Schedules as data: saving a run's decisions, following them again, and bad schedule files."""

from __future__ import annotations

import json

import pytest

from sim.scenario import RunOptions, load_scenario
from sim.schedule import Schedule, ScheduleError
from sim.system import System

RUNS = [
    ("nfs_vmxmon", RunOptions(cores=2, seed=2)),
    ("nfs_vmxmon", RunOptions(cores=3, seed=5, sched="pct", depth=2)),
    ("race_counter_asm", RunOptions(seed=1, sched="roundrobin", quantum=3)),
    ("race_counter_asm", RunOptions(seed=2, max_burst=2)),
    ("nfs_vmxmon", RunOptions(cores=2, seed=3, sched="pos")),
    ("nfs_vmxmon", RunOptions(cores=3, seed=1, sched="pct-mc", depth=3)),
    ("sb", RunOptions(seed=4, memory_model="tso")),
    ("locked_counter", RunOptions(seed=7, memory_model="tso")),
]


def _run(name, options, **kw):
    system = System(load_scenario(name), options, **kw)
    return system, system.run()


@pytest.mark.parametrize(("name", "options"), RUNS)
def test_saving_changes_nothing_and_following_reproduces(name, options):
    _, plain = _run(name, options)
    saver, saved = _run(name, options, save_schedule=True)
    assert saved.as_dict() == plain.as_dict()
    schedule = Schedule.loads(saver.saved_schedule().dumps())
    # another seed and scheduler: the schedule alone decides
    follower, followed = _run(name, options.with_(seed=options.seed + 1000, sched="random"), schedule=schedule,
                              save_schedule=True)
    assert followed.as_dict() == plain.as_dict()
    assert [m.mem for m in follower.machines] == [m.mem for m in saver.machines]
    assert follower.saved_schedule().steps == schedule.steps


def test_tso_drains_are_steps():
    sc = load_scenario("locked_counter")
    saver = System(sc, RunOptions(seed=3, memory_model="tso"), save_schedule=True)
    saver.run()
    schedule = saver.saved_schedule()
    assert schedule.drains > 0 and schedule.memory_model == "tso"
    assert '["drain", ' in schedule.dumps()


def test_a_prefix_goes_on_without_preemption():
    sc = load_scenario("race_counter_asm")
    system = System(sc, RunOptions(), schedule=Schedule(["host:0", "host:1"], "sc", [(1, 5)]), save_schedule=True)
    outcome = system.run()
    assert outcome.outcome == "completed"
    steps = system.saved_schedule().steps
    assert steps[0] == (1, 5)
    # after the prefix, core 1 runs on until it has to stop, and only then core 0
    cores = [c for c, _ in steps[1:]]
    assert cores == sorted(cores, reverse=True)


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not JSON"),
    ("[]", "not a schedule file"),
    ('{"format": "revtrace-schedule", "version": 9}', "unsupported schedule version 9"),
    ('{"format": "revtrace-schedule", "version": 1, "cores": [], "memory_model": "sc", "steps": []}',
     '"cores" must be'),
    ('{"format": "revtrace-schedule", "version": 1, "cores": ["host:0"], "memory_model": "pso", "steps": []}',
     '"memory_model" must be'),
    ('{"format": "revtrace-schedule", "version": 1, "cores": ["host:0"], "memory_model": "sc", "steps": [[1, 2]]}',
     "step 0: expected [core, instructions]"),
    ('{"format": "revtrace-schedule", "version": 1, "cores": ["host:0"], "memory_model": "sc", "steps": [[0, true]]}',
     "step 0: expected"),
    ('{"format": "revtrace-schedule", "version": 1, "cores": ["host:0"], "memory_model": "sc", '
     '"steps": [["drain", 0]]}', "a drain in a schedule for sc"),
])
def test_malformed_schedule_files(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(ScheduleError) as e:
        Schedule.load(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_a_schedule_for_other_cores_or_model_is_refused():
    sc = load_scenario("race_counter_asm")
    with pytest.raises(ScheduleError, match="for cores host:0, host:1, host:2"):
        System(sc, RunOptions(), schedule=Schedule(["host:0", "host:1", "host:2"], "sc", []))
    with pytest.raises(ScheduleError, match="memory model tso"):
        System(sc, RunOptions(), schedule=Schedule(["host:0", "host:1"], "tso", []))


def test_a_schedule_that_is_not_this_runs_is_an_error():
    sc = load_scenario("nfs_vmxmon")
    saver = System(sc, RunOptions(cores=2, seed=2), save_schedule=True)
    saver.run()
    data = saver.saved_schedule().as_dict()
    data["steps"] = [[1, 1]] * 3 + data["steps"]  # core 1's thread runs into a wait early
    schedule = Schedule.from_dict(json.loads(json.dumps(data)))
    with pytest.raises(ScheduleError, match="cannot run at instruction|no store"):
        System(sc, RunOptions(cores=2), schedule=schedule).run()


@pytest.mark.parametrize(("name", "options"), RUNS + [
    ("race_counter_asm", RunOptions(seed=1, step_limit=777)),  # ends at the step limit: a [core, 0] step
    ("nfs_vmxmon", RunOptions(cores=2, seed=69, memory_model="tso")),
])
def test_the_schedule_written_piece_by_piece_is_the_saved_one(name, options):
    """A recording's writer formats the schedule as pieces of the log arrive (ScheduleText); the
    file is byte for byte the one Schedule.dumps writes, however the pieces are cut."""
    import random

    from sim.schedule import ScheduleText

    system = System(load_scenario(name), options, save_schedule=True)
    log = system.schedule_log
    text = ScheduleText(log.cores, log.memory_model)
    rng = random.Random(7)
    while system.run(pause_at=system.instructions + rng.randrange(1, 400)) is None:
        text.add(log.take())
    text.add(log.take())
    outcome = system.outcome.outcome
    assert text.finish(system.instructions, outcome) == system.saved_schedule().dumps()
    whole = ScheduleText(log.cores, log.memory_model)
    whole.add(log.entries)
    assert whole.finish(system.instructions, outcome) == system.saved_schedule().dumps()
