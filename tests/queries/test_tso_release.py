"""A release store buffered under x86-TSO publishes its thread's clock as of *issue*, not drain
(tracer/happens_before.py). tests/queries/scenarios/tso_release: the producer's plain read of `x`
follows its st_release in program order but usually runs while the store is still buffered; the
old rule (publish at drain) ordered that read before the consumer's acquire and hid the race on
`x`. The recorder, replay and the reference now agree on the race; the fixed variant (the read
before the release) stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference import Ref

import queries
import tracer

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "tso_release"
SEEDS = range(6)


def line(file: str, text: str) -> int:
    return next(i for i, s in enumerate((SCENARIO / file).read_text().splitlines(), 1) if text in s)


def record(tmp_path, variant: str, seed: int, **kw):
    return tracer.record(SCENARIO, tmp_path / f"{variant}{seed}", variant=variant, seed=seed, **kw)


def test_a_read_after_a_buffered_release_races_with_the_acquirers_write(tmp_path):
    in_window = 0
    for seed in SEEDS:
        run = record(tmp_path, "buggy", seed)
        assert run.meta["memory_model"] == "tso" and run.meta["outcome"] == "completed"
        ev = run.events().to_pylist()
        store = next(e for e in ev if e["kind"] == "write" and e["mode"] == "release")
        load = next(e for e in ev if e["kind"] == "read" and e["addr"] == store["addr"] + 1)  # x follows flag
        # the read ran after the store instruction but before the store drained (when it does, the
        # old rule counts the read as before the release)
        if store["issued"] < load["cycle"] < store["cycle"]:
            in_window += 1
            assert load["clock"] > store["clock"]  # the read is past the release in its thread's clock
            assert Ref(run.path, release_at_drain=True).races() == [], seed  # what the old rule saw
        with queries.open_run(run.path) as r:
            found = r.races()
            assert r.races(engine="sql") == found and r.races(all_pairs=True) == found
        assert [(g["symbol"], g["first"]["access"], g["second"]["access"]) for g in found] == [
            ("x", "plain read", "plain write")], seed
        assert {(g["first"]["line"], g["second"]["line"]) for g in found} == {
            (line("publish.s", "ld r1, [x]"), line("publish.s", "st [x], 1"))}
        want = Ref(run.path).races()
        assert [(w["first_seq"], w["second_seq"]) for w in want] == [
            (g["first"]["seq"], g["second"]["seq"]) for g in found], seed
    assert in_window  # at least one seed shows what the old rule hid


def test_the_read_before_the_release_is_ordered(tmp_path):
    for seed in SEEDS:
        run = record(tmp_path, "fixed", seed)
        with queries.open_run(run.path) as r:
            assert r.races() == [] and r.races(all_pairs=True) == [] and r.races(engine="sql") == [], seed
        assert Ref(run.path).races() == [], seed


@pytest.mark.parametrize("background", [False, True])
def test_replay_checks_the_clocks_as_of_issue(tmp_path, background):
    """A checkpoint and a batch at every scheduling decision: release stores still buffered at a
    batch's end (the writer's `pending`), issued state in checkpoints; replay to every event
    re-derives each clock, and the recording is the same as one written in larger batches."""
    run = record(tmp_path, "buggy", 0, checkpoint_every=1, background=background)
    whole = record(tmp_path / "whole", "buggy", 0)
    assert run.events().to_pylist() == whole.events().to_pylist()
    assert run.vclocks().to_pylist() == whole.vclocks().to_pylist()
    for seq in range(run.meta["events"]):
        tracer.replay(run.path, seq)
