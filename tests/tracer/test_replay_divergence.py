"""Divergence detection: tamper with one recorded event; replay past it must say where and how."""

from __future__ import annotations

import pytest

import tracer
from tracer import Divergence
from tracer.checkpoints import load_index


@pytest.fixture
def tampered(rc_run, tmp_path, tr):
    """A copy of the race_counter run (one checkpoint, at seq 0) with write #7's `new` changed."""
    run = tr.copy_run(rc_run, tmp_path / "r")
    rows = run.events().to_pylist()
    target = [e for e in rows if e["kind"] == "write"][7]
    seq = target["seq"]

    def change(rs):
        assert rs[seq]["seq"] == seq
        rs[seq]["new"] = target["new"] + 1000

    tr.rewrite_events(run.event_parts()[0], change)
    run = tracer.RunDir.open(run.path)
    # the file is still a valid recording, with just that one value changed
    after = run.events().to_pylist()
    assert [i for i, (a, b) in enumerate(zip(rows, after)) if a != b] == [seq]
    assert len(load_index(run.path)) == 1
    return run, target


def test_replay_before_the_tampered_event_is_fine(tampered):
    run, target = tampered
    state = tracer.replay(run, target["seq"] - 1)
    assert state.seq == target["seq"] - 1


@pytest.mark.parametrize("past", [0, 1, 20])
def test_replay_past_the_tampered_event_diverges(tampered, past):
    run, target = tampered
    seq = target["seq"]
    with pytest.raises(Divergence) as e:
        tracer.replay(run, seq + past)
    d = e.value
    assert d.seq == seq
    assert d.recorded["new"] == target["new"] + 1000
    assert d.replayed["new"] == target["new"]
    # every other field agrees
    for field in d.recorded:
        if field != "new":
            assert d.recorded[field] == d.replayed[field], field
    assert f"seq {seq}" in str(d)
    assert "new: recorded" in str(d)
    assert str(run.path) in str(d)


def test_tampered_kind_or_thread_diverges(rc_run, tmp_path, tr):
    run = tr.copy_run(rc_run, tmp_path / "r")
    rows = run.events().to_pylist()
    read = [e for e in rows if e["kind"] == "read"][5]

    def change(rs):
        rs[read["seq"]]["kind"] = "write"
        rs[read["seq"]]["thread"] = 1 - read["thread"]

    tr.rewrite_events(run.event_parts()[0], change)
    with pytest.raises(Divergence) as e:
        tracer.replay(run.path, read["seq"] + 3)
    assert e.value.seq == read["seq"]
    assert e.value.recorded["thread"] != e.value.replayed["thread"]
    assert e.value.recorded["kind"] != e.value.replayed["kind"]


def test_tampered_clock_diverges(lc_run, tmp_path, tr):
    """Replay checks the happens-before epochs too, not only the accesses."""
    run = tr.copy_run(lc_run, tmp_path / "r")
    acquire = [e for e in run.events().to_pylist() if e["kind"] == "acquire"][3]

    def change(rs):
        rs[acquire["seq"]]["clock"] += 1

    tr.rewrite_events(run.event_parts()[0], change)
    with pytest.raises(Divergence) as e:
        tracer.replay(run.path, acquire["seq"])
    assert e.value.seq == acquire["seq"]
    assert {k for k in e.value.recorded if e.value.recorded[k] != e.value.replayed[k]} == {"clock"}


def test_divergence_in_a_later_checkpoint_window(rc_batches, tmp_path, tr):
    run = tr.copy_run(rc_batches, tmp_path / "r")
    index = load_index(run.path)
    ck = index[len(index) // 2]
    seq = ck.seq + 3

    def change(rs):
        rs[seq]["cycle"] += 1

    tr.rewrite_events(run.event_parts()[0], change)
    with pytest.raises(Divergence) as e:
        tracer.replay(run.path, seq + 1)
    assert e.value.seq == seq
    assert e.value.recorded["cycle"] == e.value.replayed["cycle"] + 1
    # a replay that starts from a checkpoint after the tampered event does not re-execute it
    later = next(c for c in index if c.seq > seq)
    assert tracer.replay(run.path, later.seq).seq == later.seq
