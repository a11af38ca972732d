"""A recording keeps its schedule; following it records the same run, byte for byte, and replays."""

from __future__ import annotations

import pytest

import tracer
from sim.schedule import Schedule


def _event_bytes(run) -> list[bytes]:
    return [p.read_bytes() for p in run.event_parts()]


@pytest.mark.parametrize(("name", "options"), [
    ("nfs_vmxmon", {"cores": 2, "seed": 2}),
    ("nfs_vmxmon", {"cores": 2, "seed": 4, "sched": "pct", "depth": 2}),
    ("locked_counter", {"seed": 5, "memory_model": "tso"}),
])
def test_a_saved_schedule_records_the_same_run(tmp_path, name, options):
    first = tracer.record(name, tmp_path / "a", background=False, checkpoint_every=200, **options)
    kept = first.path / "schedule.json"
    assert kept.is_file() and first.meta["schedule"] == "schedule.json" and not first.meta["schedule_followed"]
    other = {**options, "seed": options["seed"] + 100, "sched": "roundrobin"}
    second = tracer.record(name, tmp_path / "b", background=False, checkpoint_every=200, schedule=kept, **other)
    assert second.meta["sched"] == "schedule" and second.meta["schedule_followed"]
    assert _event_bytes(second) == _event_bytes(first)
    assert (second.path / "schedule.json").read_bytes() == kept.read_bytes()
    assert second.meta["outcome"] == first.meta["outcome"]
    # replay of the followed run goes through its checkpoints (every 200 instructions) and its schedule
    last = second.meta["events"] - 1
    for seq in (last // 3, last):
        state = tracer.replay(second.path, seq)
        assert state.seq == seq


def test_an_unfinished_schedule_is_completed_in_the_run_directory(tmp_path):
    prefix = tmp_path / "prefix.json"
    Schedule(["host:0", "host:1"], "sc", [(1, 7), (0, 3)]).save(prefix)
    run = tracer.record("race_counter_asm", tmp_path / "r", background=False, schedule=prefix)
    kept = Schedule.load(run.path / "schedule.json")
    assert kept.steps[:2] == [(1, 7), (0, 3)] and kept.instructions == run.meta["instructions"]
    again = tracer.record("race_counter_asm", tmp_path / "r2", background=False, schedule=run.path / "schedule.json")
    assert _event_bytes(again) == _event_bytes(run)
