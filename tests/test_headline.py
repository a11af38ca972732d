"""The headline case: NFS write-back x VMXMON, end to end (sweep, record, queries, diff, demo)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tracer
from queries import open_run
from queries.diff import diff_runs
from queries.errors import QueryError
from revtrace.cli import app
from sim.scenario import RunOptions
from tracer.sweep_session import sweep

SEEDS = range(0, 200)
BUG = "BUG_ON(test_bit(PG_CLEAN, &req->wb_flags))"


def _sweep(**options):
    return sweep("nfs_vmxmon", RunOptions(**options), SEEDS, jobs=2).as_dict()


@pytest.fixture(scope="module")
def v2_two_cores():
    return _sweep(variant="v2", cores=2)


def test_v2_on_one_core_never_panics():
    result = _sweep(variant="v2", cores=1)
    assert result["outcomes"] == {"completed": len(SEEDS)}


def test_v2_on_two_cores_panics_on_some_seeds_with_the_nfs_bug_on(v2_two_cores):
    assert 0 < v2_two_cores["outcomes"].get("panic", 0) < len(SEEDS)
    assert set(v2_two_cores["outcomes"]) <= {"completed", "panic"}
    assert [p["function"] for p in v2_two_cores["panic_sites"]] == ["nfs_page_async_flush"]
    assert BUG in v2_two_cores["panic_sites"][0]["message"]


def test_v2_on_three_cores_panics_on_some_seeds():
    result = _sweep(variant="v2", cores=3)
    assert 0 < result["outcomes"].get("panic", 0) < len(SEEDS)


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_v1_never_panics(cores):
    assert _sweep(variant="v1", cores=cores)["outcomes"] == {"completed": len(SEEDS)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, v2_two_cores):
    """v1 and v2 recorded with the first seed that crashes v2 on two cores."""
    seed = v2_two_cores["failing"][0]
    out = tmp_path_factory.mktemp("headline")
    v1 = tracer.record("nfs_vmxmon", out / "v1", variant="v1", cores=2, seed=seed)
    v2 = tracer.record("nfs_vmxmon", out / "v2", variant="v2", cores=2, seed=seed)
    return v1.path, v2.path


def _fatal_page(run) -> int:
    fatal = [w for w in run.windows() if w["end_reason"] == "panic"]
    assert len(fatal) == 1
    return int(fatal[0]["invariant"].rsplit("[", 1)[1].rstrip("]"))


def test_last_writer_of_the_dirty_bit_is_vmxmon_on_another_core(runs):
    _, v2 = runs
    panic = tracer.RunDir.open(v2).meta["panic"]
    assert panic["thread"] == "flusher" and BUG in panic["message"]
    with open_run(v2, progress=False) as run:
        page = _fatal_page(run)
        w = run.last_writer(f"page{page}.flags:PG_dirty", before="panic")
    assert w["thread"] == "vmxmon"
    assert w["core"] != panic["core"]
    assert w["function"] == "__set_page_dirty_nobuffers"
    assert (w["old"] >> 2) & 1 == 0 and (w["new"] >> 2) & 1 == 1  # PG_dirty is bit 2


def test_races_list_the_pair_on_the_flags_that_caused_it(runs):
    _, v2 = runs
    with open_run(v2, progress=False) as run:
        page = _fatal_page(run)
        races = run.races()
    pairs = {(r["symbol"], frozenset((r["first"]["function"], r["second"]["function"]))) for r in races}
    culprits = frozenset(("nfs_writeback_done", "__set_page_dirty_nobuffers"))
    assert (f"page{page}.flags", culprits) in pairs  # rpciod tests PG_dirty / vmxmon sets it
    assert (f"req{page}.wb_flags", culprits) in pairs  # rpciod sets PG_CLEAN / vmxmon tests PG_BUSY


def test_window_ends_in_the_panic_and_names_the_write_that_opened_it(runs):
    _, v2 = runs
    with open_run(v2, progress=False) as run:
        fatal = [w for w in run.windows() if w["end_reason"] == "panic"]
        panic_seq = run.panic_seq
    (w,) = fatal
    assert w["invariant"].startswith("dirty page with a clean request[")
    assert w["end_seq"] == panic_seq
    assert w["closed_by"] is None
    opened = w["opened_by"]
    assert opened["seq"] == w["start_seq"]
    assert opened["function"] in ("__set_page_dirty_nobuffers", "nfs_writeback_done")


def test_lockset_names_the_path_that_bypasses_the_request_lock(runs):
    _, v2 = runs
    with open_run(v2, progress=False) as run:
        hb = run.hb()
    violations = [v for rule in hb["locksets"] for v in rule["violations"]]
    assert {v["site"]["function"] for v in violations} == {"__set_page_dirty_nobuffers"}
    assert all(o["holds"] for o in hb["orderings"])


def test_v1_loses_vmxmon_data_and_a_query_shows_it(runs):
    v1, _ = runs
    with open_run(v1, progress=False) as run:
        for page in range(4):
            mine = run.value(f"page{page}.data[0]")
            server = run.value(f"server_page{page}.data[0]")
            writer = run.last_writer(f"page{page}.data[0]")
            assert writer["thread"] == "vmxmon"
            assert mine["value"] != server["value"], page
            assert mine["value"] >= 1000  # VMXMON's data: 1000 * round + page
            assert server["value"] < 1000  # the server still has the original contents


def test_v2_without_the_race_delivers_the_data():
    from sim.scenario import load_scenario
    from sim.system import System

    sc = load_scenario("nfs_vmxmon")
    system = System(sc, RunOptions(variant="v2", cores=1, seed=0))
    assert system.run().outcome == "completed"
    for page in range(4):
        assert system.read_symbol(f"page{page}.data[0]") == system.read_symbol(f"server_page{page}.data[0]")


def test_diff_shows_the_one_line_change_and_what_it_changed(runs):
    v1, v2 = runs
    d = diff_runs(v1, v2)
    assert d["outcome_a"] == "completed" and d["outcome_b"] == "panic"
    assert [(c["side"], c["function"], c["text"]) for c in d["code_changes"]] == [
        ("b", "vmx_ioctl_write", "__set_page_dirty_nobuffers(page);")]
    vmx = d["first_divergence"]["vmxmon"]
    assert vmx["b"]["function"] == "__set_page_dirty_nobuffers"
    assert vmx["matched_before"] > 0  # the alignment kept the common prefix
    dirty = [g for g in d["only_in_b"] if g["function"] == "__set_page_dirty_nobuffers" and g["bits"] == "+PG_dirty"]
    assert dirty and all(g["thread"] == "vmxmon" for g in dirty)
    assert not [g for g in d["only_in_a"] if g["bits"] == "+PG_dirty" and g["thread"] == "vmxmon"]


def test_diff_of_a_run_with_itself_is_empty(runs):
    _, v2 = runs
    d = diff_runs(v2, v2)
    assert d["code_changes"] == [] and d["only_in_a"] == [] and d["only_in_b"] == []
    assert all(fd is None for fd in d["first_divergence"].values())


def test_diff_aligns_around_inserted_code(runs):
    """The v1 thread's events all reappear in v2's, in order: the inserted call is a gap."""
    v1, v2 = runs
    d = diff_runs(v1, v2)
    vmx = d["first_divergence"]["vmxmon"]
    assert vmx["a"]["function"] == "unlock_page"  # v1 went straight on to unlock_page


def test_diff_refuses_runs_of_different_scenarios(runs, tmp_path):
    v1, _ = runs
    other = tracer.record("race_counter_asm", tmp_path / "rc", cores=2, seed=1)
    with pytest.raises(QueryError, match="different scenarios"):
        diff_runs(v1, other.path)
    res = CliRunner().invoke(app, ["diff", str(v1), str(other.path)])
    assert res.exit_code == 2
    assert "different scenarios" in res.stderr and "Traceback" not in res.stderr


def test_diff_command_json(runs):
    v1, v2 = runs
    res = CliRunner().invoke(app, ["diff", str(v1), str(v2), "--json"])
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    for key in ("first_divergence", "only_in_a", "only_in_b", "outcome_a", "outcome_b"):
        assert key in d
    assert d["windows_only_in_b"] and not d["windows_only_in_a"]


def test_demo_tells_the_whole_story(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--seeds", "0..99", "--json"])
    assert res.exit_code == 0, res.stderr
    found = json.loads(res.stdout)
    assert found["sweep"]["v2_one_core"] == {"completed": 100}
    assert found["sweep"]["v1"] == {"completed": 100}
    assert found["panic"]["thread"] == "flusher"
    assert found["last_writer_dirty"]["thread"] == "vmxmon"
    assert found["last_writer_dirty"]["core"] != found["panic"]["core"]
    assert found["last_writer_clean"]["thread"] == "rpciod"
    assert found["window"]["end_reason"] == "panic"
    assert found["races"] and found["lockset_violations"]
    assert found["v1_lost"]["page"] != found["v1_lost"]["server"]
    assert found["diff"]["code_changes"][0]["text"] == "__set_page_dirty_nobuffers(page);"
    assert (tmp_path / "demo" / "v1" / "meta.json").is_file()
    picture = found["timeline"]
    assert (tmp_path / "demo" / "v2-timeline.png").is_file() and picture["panic"] is not None
    assert picture["windows"] == 1 and picture["races"] > 0 and picture["lanes"][0] == "client core 0"


def test_demo_text_shows_each_step(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--seeds", "0..49"])
    assert res.exit_code == 0, res.stderr
    for fragment in ("1. Hunt", "panic", "last-writer", "races", "hb", "never reaches the server",
                     "__set_page_dirty_nobuffers(page);", "9. The picture", "revtrace timeline"):
        assert fragment in res.stdout, fragment
