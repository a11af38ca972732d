"""Small answers that used to mislead (issue: rough edges a new user hit in the first hour)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import invoke, ok

import tracer


@pytest.fixture(scope="module")
def nfs(tmp_path_factory, nfs_seed):
    return tracer.record("nfs_vmxmon", tmp_path_factory.mktemp("small") / "v2", cores=2, seed=nfs_seed).path


@pytest.fixture(scope="module")
def rc(tmp_path_factory):
    return tracer.record("race_counter_asm", tmp_path_factory.mktemp("small") / "rc", cores=2, seed=3,
                         params=(("N", 5),)).path


@pytest.fixture(autouse=True)
def wide(wide_console):
    return wide_console


def test_races_name_the_other_words(nfs):
    found = json.loads(ok(invoke("races", nfs, "--json")).stdout)
    multi = [g for g in found if g["addresses"] > 1]
    assert multi, "no race group over several words in this run"
    for g in found:
        assert len(g["words"]) == g["addresses"] and g["symbol"] in g["words"]
    text = ok(invoke("races", nfs)).stdout
    g = multi[0]
    others = [w for w in g["words"] if w != g["symbol"]]
    assert f"+{len(others)} more: {others[0]}" in text
    assert "more words" not in text


def test_last_writer_of_a_counter_has_no_bits_row(rc, nfs):
    text = ok(invoke("last-writer", rc, "counter")).stdout
    assert "bits" not in text and "none changed" not in text
    flags = ok(invoke("last-writer", nfs, "page0.flags")).stdout
    assert "│ bits" in flags


def test_replay_says_which_instruction_each_core_is_on(rc):
    text = ok(invoke("replay", rc, "--to", "5")).stdout
    assert "pc at" not in text
    assert "the event's" in text and "next" in text
    event_line = next(line for line in text.splitlines() if line.startswith("event 5:"))
    core = event_line.split(" core ")[1].split()[0]
    row = next(line for line in text.splitlines() if line.startswith(f"│ host:{core} "))
    assert "the event's" in row


def test_replay_to_end_on_a_run_that_did_not_panic(rc):
    n = tracer.RunDir.open(rc).meta["events"]
    assert f"state after seq {n - 1} " in ok(invoke("replay", rc, "--to", "end")).stdout


def test_sweep_json_reports_the_options_used():
    d = json.loads(ok(invoke("sweep", "race_counter_asm", "--seeds", "0..1", "-p", "N=3", "--json")).stdout)
    o = d["options"]
    assert o["cores"] == 2  # the scenario's, not null
    assert o["quantum"] == 8 and o["step_limit"] == 2_000_000
    d = json.loads(ok(invoke("sweep", "race_counter_asm", "--seeds", "0..1", "-p", "N=3", "-c", "3", "--sched",
                             "roundrobin", "--quantum", "5", "--step-limit", "999", "--json")).stdout)
    assert (d["options"]["cores"], d["options"]["quantum"], d["options"]["step_limit"]) == (3, 5, 999)


def test_messages_view_names_ports(nfs):
    rows = json.loads(ok(invoke("sql", nfs, "SELECT DISTINCT port, port_id FROM messages ORDER BY port_id",
                                "--json")).stdout)
    assert rows == [{"port": "nfs_call", "port_id": 0}, {"port": "nfs_reply", "port_id": 1}]


def test_tso_stores_tell_when_they_were_issued(tmp_path):
    """Under tso the event is the drain; last-writer, history and the JSON say when the store ran."""
    run = tracer.record("sb", tmp_path / "sb", seed=3, memory_model="tso").path
    w = json.loads(ok(invoke("last-writer", run, "x", "--json")).stdout)
    assert w["issued"] is not None and w["issued"] <= w["cycle"]
    text = ok(invoke("last-writer", run, "x")).stdout
    assert f"at cycle {w['issued']}; sat in the store buffer, visible at seq {w['seq']} (cycle {w['cycle']})" in text
    assert f"cycle {w['issued']} (buffered)" in ok(invoke("history", run, "x")).stdout
    sc = tracer.record("sb", tmp_path / "sc", seed=3).path
    assert json.loads(ok(invoke("last-writer", sc, "x", "--json")).stdout)["issued"] is None
    assert "issued" not in ok(invoke("last-writer", sc, "x")).stdout


def test_windows_say_when_a_buffered_store_was_issued(tmp_path):
    import shutil
    folder = tmp_path / "sb"
    shutil.copytree(Path(__file__).resolve().parents[2] / "data" / "scenarios" / "sb", folder)
    with open(folder / "scenario.toml", "a") as f:
        f.write('\n[[invariants]]\nname = "x still 0"\nexpr = "x == 0"\n')
    run = tracer.record(folder, tmp_path / "run", seed=3, memory_model="tso").path
    [w] = json.loads(ok(invoke("windows", run, "--json")).stdout)
    opened = w["opened_by"]
    assert opened["issued"] is not None and opened["issued"] <= opened["cycle"]
    assert f"issued at cycle {opened['issued']}, visible at seq {opened['seq']}" in ok(invoke("windows", run)).stdout
