"""`revtrace locks` and `revtrace races --all-pairs` as a user calls them; `revtrace run` on a lock
deadlock shows the cycle."""

from __future__ import annotations

import json

from helpers import invoke, ok, refused

import tracer


def _abba(tmp_path, want: str):
    for seed in range(60):
        run = tracer.record("bugs/abba", tmp_path / f"abba{seed}", seed=seed)
        if run.meta["outcome"] == want:
            return seed, run
    raise AssertionError(f"no abba seed ends {want}")


def test_locks_reports_the_cycle_of_a_run_that_did_not_deadlock(tmp_path):
    _, run = _abba(tmp_path, "completed")
    res = ok(invoke("locks", run.path))
    assert "possible circular locking dependency 1: acct_a_lock -> acct_b_lock -> acct_a_lock" in res.stdout
    found = json.loads(ok(invoke("locks", run.path, "--json")).stdout)
    assert [c["locks"] for c in found["cycles"]] == [["acct_a_lock", "acct_b_lock"]]
    fixed = tracer.record("bugs/abba", tmp_path / "fixed", variant="fixed", seed=1)
    assert "no lock-order cycle" in ok(invoke("locks", fixed.path)).stdout


def test_run_shows_who_holds_what_in_a_deadlock(tmp_path):
    seed, _ = _abba(tmp_path, "deadlock")
    res = invoke("run", "bugs/abba", "--seed", seed)
    assert "outcome: deadlock" in res.stdout
    assert "transfer waits for acct_b_lock at abba.s:" in res.stdout.replace("\n", " ")


def test_races_all_pairs_and_bad_input(tmp_path):
    run = tracer.record("bugs/peterson", tmp_path / "p", seed=0)
    default = json.loads(ok(invoke("races", run.path, "--json")).stdout)
    every = json.loads(ok(invoke("races", run.path, "--all-pairs", "--json")).stdout)
    pairs = {frozenset((r["first"]["site"], r["second"]["site"])) for r in default}
    assert pairs <= {frozenset((r["first"]["site"], r["second"]["site"])) for r in every}
    assert all("plain" in (r["first"]["mode"], r["second"]["mode"]) for r in every)
    refused(invoke("locks", tmp_path / "nowhere"), "nowhere")
