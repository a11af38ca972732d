"""Failures beyond panics: [[checks]] on the final state, --check-invariants during the run."""

from __future__ import annotations

import shutil

import pytest

from queries import invariants as query_language
from sim import state_expr
from sim.errors import ScenarioError
from sim.scenario import BUNDLED, RunOptions, load_scenario
from sim.system import System

CHECK = '''
[[checks]]
name = "no lost update"
expr = "counter == 2 * N"
'''


def with_toml(tmp_path, bundled: str, extra: str):
    folder = tmp_path / bundled
    shutil.copytree(BUNDLED / bundled, folder)
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text() + extra)
    return folder


def test_a_false_final_check_is_the_outcome(tmp_path):
    sc = load_scenario(with_toml(tmp_path, "race_counter_asm", CHECK))
    outcomes = [System(sc, RunOptions(seed=s, params=(("N", 20),))).run() for s in range(10)]
    failed = [o for o in outcomes if o.outcome == "check_failed"]
    assert failed, [o.outcome for o in outcomes]
    for o in failed:
        d = o.as_dict()
        assert d["check"]["name"] == "no lost update"
        assert d["check"]["kind"] == "check"
        assert d["check"]["values"]["counter"] < 40
    for o in outcomes:
        assert o.outcome in ("completed", "check_failed")


def test_the_same_check_holds_on_the_locked_counter(tmp_path):
    sc = load_scenario(with_toml(tmp_path, "locked_counter", CHECK))
    for seed in range(20):
        assert System(sc, RunOptions(seed=seed, params=(("N", 20),))).run().outcome == "completed"


def test_one_core_never_loses_an_update(tmp_path):
    sc = load_scenario(with_toml(tmp_path, "race_counter_asm", CHECK))
    for seed in range(10):
        assert System(sc, RunOptions(seed=seed, cores=1, params=(("N", 20),))).run().outcome == "completed"


def test_invariants_cost_nothing_unless_asked():
    sc = load_scenario("nfs_vmxmon")
    assert System(sc, RunOptions(cores=2, seed=2)).observer is None
    assert System(sc, RunOptions(cores=2, seed=2, check_invariants=True)).observer is not None


def test_a_broken_invariant_stops_the_run_at_the_recorded_seq(tmp_path):
    """The seq and cycle --check-invariants reports are those of the event that opens the
    invariant's window in the recording of the same run."""
    import tracer
    from queries import open_run

    sc = load_scenario("nfs_vmxmon")
    seed = next(s for s in range(100) if System(sc, RunOptions(cores=2, seed=s)).run().outcome == "panic")
    o = System(sc, RunOptions(cores=2, seed=seed, check_invariants=True)).run()
    assert o.outcome == "check_failed"
    check = o.check
    assert check["kind"] == "invariant"
    assert check["name"].startswith("dirty page with a clean request[")
    tracer.record(sc, tmp_path / "run", options=RunOptions(cores=2, seed=seed))
    with open_run(tmp_path / "run") as run:
        first = min(run.windows(), key=lambda w: w["start_seq"])
    assert (check["seq"], check["cycle"]) == (first["start_seq"], first["start_cycle"])
    assert first["invariant"] == check["name"]
    assert o.instructions < System(sc, RunOptions(cores=2, seed=seed)).run().instructions


def test_a_check_that_does_not_parse_is_refused_when_loading(tmp_path):
    folder = with_toml(tmp_path, "race_counter_asm", '[[checks]]\nname = "bad"\nexpr = "counter == (2"\n')
    with pytest.raises(ScenarioError) as e:
        load_scenario(folder)
    assert str(e.value).startswith(str(folder / "scenario.toml"))
    assert "checks[0] 'bad'" in str(e.value)


def test_a_check_naming_an_unknown_symbol_is_refused(tmp_path):
    folder = with_toml(tmp_path, "race_counter_asm", '[[checks]]\nname = "typo"\nexpr = "countr == 2"\n')
    with pytest.raises(ScenarioError, match="unknown symbol or constant 'countr'"):
        System(load_scenario(folder), RunOptions())


@pytest.mark.parametrize("text", [
    "not (page0.flags:PG_dirty and req0.wb_flags:PG_CLEAN)",
    "counter <= 100 and (state & 3) != 2",
    "done0 == 1 and done1 == 1 or x[3] ^ 5 == ~y << 2",
    "-a + b - c | d & 0x10 >> 1",
])
def test_the_simulator_reads_the_invariant_language_as_the_queries_do(text):
    mine, _ = state_expr.parse(text)
    theirs = query_language.parse(text).tree
    assert repr(mine).replace("state_expr", "invariants") == repr(theirs)


def test_evaluation_matches_the_queries_reference():
    mem = [5, 0b1010, 7]
    names = {"a": 0, "b": 1, "c": 2}
    for text in ["a + b * 2 == 25", "b:1 and not b:0", "-a > c", "(a - c) >> 60", "b:3 + b:1 == 2", "a / 0 == 0"]:
        tree, _ = state_expr.parse(text)
        bound = state_expr.bind(tree, lambda op: ("mem", mem, names[op.symbol], int(op.bit or 0),
                                                  1 if op.bit else (1 << 64) - 1))
        value = state_expr.evaluate(bound)
        if "*" in text or "/" in text:
            assert value == 1
            continue
        q = query_language.parse(text)
        values = {op: (mem[names[op.symbol]] >> int(op.bit or 0)) & (1 if op.bit else (1 << 64) - 1)
                  for op in q.operands}
        assert value == query_language.evaluate_one(q.tree, values), text
