"""Every access's mode is recorded (the memory-order instructions, atomics, locks, fences), under
sc and tso, and a recording made before modes existed is refused with one line."""

from __future__ import annotations

import json

import pytest

import tracer
from sim import observer as sim_observer
from tracer import schema
from tracer.errors import TraceError

SOURCE = """
.word a, 0
.word b, 0
.word l, 0
main:
    st_once [a], 5
    ld_once r1, [a]
    st_release [b], 7
    ld_acquire r2, [b]
    wmb
    rmb
    fence
    st [a], 1
    ld r3, [a]
    xchg r4, [a], 2
    set_bit 1, [b]
    clear_bit 1, [b]
    spin_lock [l]
    spin_unlock [l]
    spin_trylock r5, [l]
    spin_unlock [l]
    halt
"""


def test_mode_names_match_the_simulator():
    assert schema.MODE_NAMES == sim_observer.MODE_NAMES
    assert schema.MODE_DICTIONARY.to_pylist() == list(schema.MODE_NAMES)
    assert schema.EVENTS.field("mode").type == schema.MODE_TYPE


@pytest.mark.parametrize("model", ["sc", "tso"])
def test_each_access_is_recorded_with_its_mode(tmp_path, make_scenario_folder, model):
    folder = make_scenario_folder(tmp_path, SOURCE)
    run = tracer.record(folder, tmp_path / "run", memory_model=model, sched="roundrobin", quantum=1000)
    rows = [(r["kind"], r["mode"]) for r in run.events().to_pylist() if r["kind"] not in ("switch", "exit")]
    head = [("write", "marked"), ("read", "marked"), ("write", "release"), ("read", "acquire"),
            ("fence", "wmb"), ("fence", "rmb"), ("fence", "mb")]
    if model == "tso":  # buffered until the full barrier drains them
        head = [("read", "marked"), ("read", "acquire"), ("fence", "rmb"), ("write", "marked"),
                ("write", "release"), ("fence", "wmb"), ("fence", "mb")]
    tail = [("write", "plain"), ("read", "plain"), ("rmw", "atomic"), ("rmw", "atomic_noret"),
            ("rmw", "atomic_noret"), ("acquire", "acquire"), ("rmw", "acquire"), ("write", "release"),
            ("release", "release"), ("acquire", "trylock"), ("rmw", "acquire"), ("write", "release"),
            ("release", "release")]
    if model == "tso":  # the plain store drains at the xchg (a locked instruction), after the read
        tail[0:2] = [("read", "plain"), ("write", "plain")]
    assert rows == head + tail
    # under tso the marked and acquire loads read their own buffered stores, and say so (old = 1);
    # the plain load's value came from the buffer too, but only marked and acquire loads tell
    forwarded = [r["old"] for r in run.events().to_pylist() if r["kind"] == "read"]
    assert forwarded == ([1, 1, 0] if model == "tso" else [0, 0, 0])


def test_a_forwarded_acquire_load_is_marked_as_such(tmp_path, make_scenario_folder):
    folder = make_scenario_folder(tmp_path, ".word a, 0\nmain:\n    st [a], 4\n    ld_acquire r1, [a]\n    halt\n")
    run = tracer.record(folder, tmp_path / "run", memory_model="tso", sched="roundrobin", quantum=1000)
    reads = [r for r in run.events().to_pylist() if r["kind"] == "read"]
    assert [(r["mode"], r["old"], r["new"]) for r in reads] == [("acquire", 1, 4)]


def test_a_recording_without_modes_is_refused(tmp_path, make_scenario_folder):
    folder = make_scenario_folder(tmp_path, ".word a, 0\nmain:\n    halt\n")
    run = tracer.record(folder, tmp_path / "run")
    meta = json.loads((run.path / "meta.json").read_text())
    meta["schema_version"] = 1
    (run.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(TraceError) as err:
        tracer.RunDir.open(run.path)
    assert "schema version 1, before access modes were recorded; record the run again" in str(err.value)


@pytest.fixture
def make_scenario_folder():
    def make(tmp_path, source):
        folder = tmp_path / "scn"
        folder.mkdir()
        (folder / "main.s").write_text(source)
        (folder / "scenario.toml").write_text(
            'name = "modes"\n[machines.host]\ncores = 1\nsources = ["main.s"]\n\n'
            '[[threads]]\nname = "T0"\nentry = "main"\n')
        return folder
    return make


@pytest.mark.parametrize("name,variant,model", [("mp_barrier", "fixed", "tso"), ("peterson", "fixed", "tso"),
                                                ("treiber_aba", "buggy", "sc"), ("dcl", "fixed", "sc")])
def test_replay_reproduces_the_kernel_rules_clocks(tmp_path, name, variant, model):
    """Replay re-derives every event's clock with the same rules (release/acquire, atomics,
    fences): it reaches every seq from the nearest checkpoint without a divergence."""
    run = tracer.record(f"bugs/{name}", tmp_path / "run", variant=variant, seed=4, memory_model=model,
                        checkpoint_every=40)
    events = run.meta["events"]
    for to in sorted({1, events // 3, events // 2, events - 1}):
        state = tracer.replay(run.path, to)
        assert state.seq == to
