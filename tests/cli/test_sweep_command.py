"""`revtrace sweep`: outcome counts, failing seeds and their panic sites, --keep, bad input."""

from __future__ import annotations

import json
import os

import pytest
from helpers import invoke, ok, refused

import tracer
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from tracer import sweep_session

@pytest.fixture(scope="module")
def failing_window():
    """A small range of seeds holding two seeds on which nfs_vmxmon v2 on two cores panics, and the
    outcome of every seed in it (found by plain runs: the scenario's sources may be tuned)."""
    sc = load_scenario("nfs_vmxmon")
    outcomes, failing = {}, []
    for seed in range(200):
        outcomes[seed] = System(sc, RunOptions(cores=2, seed=seed)).run().outcome
        if outcomes[seed] == "panic":
            failing.append(seed)
            if len(failing) == 2:
                break
    assert len(failing) == 2
    first = max(0, failing[0] - 2)
    return range(first, failing[1] + 1), failing, {s: outcomes[s] for s in range(first, failing[1] + 1)}


def test_sweep_json(failing_window):
    seeds, failing, _ = failing_window
    res = ok(invoke("sweep", "nfs_vmxmon", "--cores", "2", "--seeds", f"{seeds.start}..{seeds.stop - 1}",
                    "-j", "2", "--json"))
    d = json.loads(res.stdout)
    assert {"runs", "outcomes", "failing", "panic_sites", "failures", "errors", "seeds", "hit_rate"} <= set(d)
    assert d["runs"] == len(seeds)
    assert sum(d["outcomes"].values()) == len(seeds)
    assert d["failing"] == failing
    assert d["outcomes"].get("panic") == 2
    assert d["options"]["variant"] == "v2"  # the scenario's default variant
    (site,) = d["panic_sites"]
    assert "BUG_ON(test_bit(PG_CLEAN" in site["message"]
    assert site["function"] == "nfs_page_async_flush"
    assert site["count"] == 2
    assert d["errors"] == []


def test_sweep_text(failing_window):
    seeds, failing, _ = failing_window
    res = ok(invoke("sweep", "nfs_vmxmon", "-c", "2", "--seeds", f"{seeds.start}..{seeds.stop - 1}"))
    out = res.stdout
    assert f"{len(seeds)} runs of" in out
    assert f"failing seeds: {failing[0]}, {failing[1]}" in out
    assert "nfs_page_async_flush" in out
    assert "Traceback" not in res.output


def test_sweep_counts_on_race_counter():
    res = ok(invoke("sweep", "race_counter_asm", "--cores", "2", "--seeds", "0..9", "-p", "N=10", "--json"))
    d = json.loads(res.stdout)
    assert d["runs"] == 10 == sum(d["outcomes"].values())
    assert d["seeds"] == "0..9"
    assert d["failing"] == []
    res = ok(invoke("sweep", "race_counter_asm", "--cores", "2", "--seeds", "3", "-p", "N=10"))
    assert "1 runs of" in res.stdout
    assert "no failing seed" in res.stdout


def test_sweep_keep(failing_window, tmp_path):
    _, failing, _ = failing_window
    keep = tmp_path / "keep"
    res = ok(invoke("sweep", "nfs_vmxmon", "-c", "2", "--seeds", f"{failing[0]}..{failing[1]}",
                    "--keep", keep, "--json"))
    d = json.loads(res.stdout)
    assert d["failing"] == failing
    assert {p.name for p in keep.iterdir()} == {f"seed-{s}" for s in failing}
    for r in d["failures"]:
        assert r["run_dir"] == str(keep / f"seed-{r['seed']}")
        run = tracer.RunDir.open(r["run_dir"])
        assert run.meta["outcome"] == "panic"
        assert run.meta["seed"] == r["seed"]
        assert run.meta["cores"]["client"] == 2
    # a kept run replays to its panic
    ok(invoke("replay", keep / f"seed-{failing[0]}", "--to", "panic"))


def test_sweep_one_core_finds_nothing():
    res = ok(invoke("sweep", "nfs_vmxmon", "--cores", "1", "--seeds", "0..30", "--json"))
    d = json.loads(res.stdout)
    assert d["failing"] == []
    assert d["outcomes"] == {"completed": 31}


@pytest.mark.parametrize("seeds, fragment", [
    ("abc", "--seeds expects A..B"), ("9..3", "empty"), ("", "--seeds expects"), ("1..", "--seeds expects"),
    ("-2..4", "--seeds expects"),
])
def test_sweep_bad_seeds(seeds, fragment):
    refused(invoke("sweep", "race_counter_asm", f"--seeds={seeds}"), fragment)


def test_sweep_bad_arguments(tmp_path):
    refused(invoke("sweep", "race_countr", "--seeds", "0..3"), "no such scenario")
    refused(invoke("sweep", "nfs_vmxmon", "-V", "v7", "--seeds", "0..3"), "unknown variant 'v7'")
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "-j", "0"), "-j")
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "-p", "Q=1"), "unknown parameter")
    f = tmp_path / "file"
    f.write_text("x")
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "--keep", f / "k"), "--keep")


def test_sweep_missing_seeds_is_a_usage_error():
    res = invoke("sweep", "race_counter_asm")
    assert res.exit_code == 2
    assert "--seeds" in res.output
    assert "Traceback" not in res.output


# Module level, so that the forked workers find it by reference.
_real_run_seed = sweep_session.run_seed


def _crash_on_4(scenario, options, seed, keep, *rest):
    if seed == 4:
        os._exit(3)
    return _real_run_seed(scenario, options, seed, keep, *rest)


def test_sweep_reports_a_crashed_worker(monkeypatch):
    monkeypatch.setattr(sweep_session, "run_seed", _crash_on_4)
    res = ok(invoke("sweep", "race_counter_asm", "--seeds", "0..7", "-p", "N=10", "--json"))
    d = json.loads(res.stdout)
    assert d["runs"] == 8
    assert d["outcomes"] == {"completed": 7, "crashed": 1}
    assert [e["seed"] for e in d["errors"]] == [4]
    assert d["errors"][0]["outcome"] == "crashed"
    res = ok(invoke("sweep", "race_counter_asm", "--seeds", "3..5", "-p", "N=10"))
    assert "seed 4: crashed" in res.stdout


# ---------------------------------------------------------------------------------------------
# checks, histograms, refusal

def _race_with_check(tmp_path):
    import shutil

    from sim.scenario import BUNDLED

    folder = tmp_path / "race"
    shutil.copytree(BUNDLED / "race_counter_asm", folder)
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text() + '\n[[checks]]\nname = "no lost update"\nexpr = "counter == 2 * N"\n')
    return folder


def test_sweep_counts_failed_checks_and_shows_a_histogram(tmp_path):
    folder = _race_with_check(tmp_path)
    res = ok(invoke("sweep", folder, "--seeds", "0..19", "-p", "N=10", "--show", "counter", "--json"))
    d = json.loads(res.stdout)
    plain = {s: System(load_scenario(folder), RunOptions(seed=s, params=(("N", 10),))) for s in range(20)}
    finals = {}
    for s, system in plain.items():
        system.run()
        finals[s] = system.read_symbol("counter")
    lost = sorted(s for s, v in finals.items() if v != 20)
    assert lost and d["failing"] == lost
    assert d["outcomes"].get("check_failed") == len(lost)
    assert d["failed_checks"] == [{"kind": "check", "name": "no lost update", "expr": "counter == 2 * N",
                                   "count": len(lost)}]
    expected = {}
    for v in finals.values():
        expected[v] = expected.get(v, 0) + 1
    assert d["histograms"] == {"counter": [[v, n] for v, n in sorted(expected.items())]}
    res = ok(invoke("sweep", folder, "--seeds", "0..19", "-p", "N=10", "--show", "counter"))
    assert "final value of counter" in res.stdout and "no lost update" in res.stdout


def test_sweep_refuses_a_scenario_that_does_not_assemble(tmp_path, monkeypatch):
    folder = _race_with_check(tmp_path)
    (folder / "counter.s").write_text((folder / "counter.s").read_text().replace("add r2, 1", "add r2, 1, 2, 3"))
    calls = []
    monkeypatch.setattr(sweep_session, "run_tasks", lambda *a, **k: calls.append(a))
    line = refused(invoke("sweep", folder, "--seeds", "0..99"), "counter.s:")
    assert calls == []  # no seed ran
    assert "add" in line


def test_sweep_refuses_an_unknown_show_symbol():
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "--show", "countr"), "unknown symbol 'countr'")


def test_sweep_check_invariants_counts_broken_invariants():
    res = ok(invoke("sweep", "nfs_vmxmon", "-c", "2", "--seeds", "0..29", "--check-invariants", "--json"))
    d = json.loads(res.stdout)
    plain = ok(invoke("sweep", "nfs_vmxmon", "-c", "2", "--seeds", "0..29", "--json"))
    panics = json.loads(plain.stdout)["failing"]
    # every run that panics broke the invariant first
    assert set(panics) <= set(d["failing"])
    assert all(r["outcome"] == "check_failed" and r["check"]["kind"] == "invariant" for r in d["failures"])


def test_sweep_bad_engine():
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "--engine", "spark"), "unknown engine 'spark'")
    refused(invoke("sweep", "race_counter_asm", "--seeds", "0..3", "--address", "auto"), "--address applies to --engine ray")
