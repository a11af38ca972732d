"""`revtrace explore` on the bug corpus and NFS, and `revtrace shrink` on the NFS failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace.cli import app
from sim.scenario import BUNDLED

runner = CliRunner()
BUGS = BUNDLED / "bugs"
CORPUS = sorted(p.name for p in BUGS.iterdir() if (p / "scenario.toml").is_file()) if BUGS.is_dir() else []
SLOW = {("peterson", "fixed"), ("treiber_aba", "fixed")}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _cases():
    for name in CORPUS:
        for variant in ("buggy", "fixed"):
            marks = [pytest.mark.slow] if (name, variant) in SLOW else []
            yield pytest.param(name, variant, marks=marks, id=f"{name}-{variant}")


@pytest.mark.parametrize(("name", "variant"), list(_cases()))
def test_explore_k2_finds_buggy_and_clears_fixed(name, variant):
    result = invoke("explore", BUGS / name, "--variant", variant, "--preemptions", "2", "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    if variant == "buggy":
        assert d["failure"] is not None and d["failure"]["preemptions"] <= 2
    else:
        assert d["failure"] is None and d["explored"] > 0 and d["stopped"] is None


def test_nfs_v1_is_clean_at_k1():
    result = invoke("explore", "nfs_vmxmon", "--variant", "v1", "--cores", "2", "--preemptions", "1")
    assert result.exit_code == 0, result.output
    assert "no failure in all" in result.output and "with at most 1 preemption" in result.output


def test_shrink_nfs_failure(tmp_path):
    # the C model, v2 on two cores: seed 69 panics after 66 preemptions
    run = tmp_path / "run"
    assert invoke("record", "nfs_vmxmon", "--cores", "2", "--seed", "69", "-o", run, "--json").exit_code == 0
    shrunk = tmp_path / "shrunk"
    result = invoke("shrink", run, "-o", shrunk, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["original_preemptions"] == 66 and 1 <= d["preemptions"] <= 2
    # explore needs as many: with one fewer it searches everything and finds no failure
    clean = json.loads(invoke("explore", "nfs_vmxmon", "--cores", "2", "--preemptions", str(d["preemptions"] - 1),
                              "--json").output)
    assert clean["failure"] is None and clean["stopped"] is None
    meta = json.loads((shrunk / "meta.json").read_text())
    original = json.loads((run / "meta.json").read_text())
    assert meta["outcome"] == "panic"
    assert {k: meta["panic"][k] for k in ("file", "line", "message")} == \
        {k: original["panic"][k] for k in ("file", "line", "message")}
    assert d["text"].startswith(f"{d['preemptions']} preemption")
    # each preemption is told by the last C line the preempted thread ran
    assert len(d["story"]) == d["preemptions"]
    assert all(re.fullmatch(r"after \w+ [\w/.-]+\.c:\d+", s["at"]) for s in d["story"]), d["story"]
    # the shrunk run replays byte for byte from its own schedule
    again = tmp_path / "again"
    assert invoke("record", "nfs_vmxmon", "--cores", "2", "--schedule", shrunk / "schedule.json", "-o", again,
                  "--json").exit_code == 0
    parts = sorted(p.name for p in (shrunk / "events").iterdir())
    assert parts and all((shrunk / "events" / p).read_bytes() == (again / "events" / p).read_bytes() for p in parts)


def test_shrink_refuses_a_passing_run(tmp_path):
    run = tmp_path / "run"
    invoke("record", "race_counter_asm", "--cores", "1", "-o", run)
    result = invoke("shrink", run, "-o", tmp_path / "s")
    assert result.exit_code == 2 and "did not fail" in result.output and "Traceback" not in result.output


def test_explore_bad_input_one_line(tmp_path):
    result = invoke("explore", "no_such_scenario")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = invoke("shrink", tmp_path / "nothing", "-o", tmp_path / "s")
    assert result.exit_code == 2 and "no such run directory" in result.output


def test_corpus_exists():
    assert Path(BUGS).is_dir() and len(CORPUS) >= 10


@pytest.mark.slow
def test_explore_on_ray_gives_the_same_verdicts():
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]')")
    for variant in ("buggy", "fixed"):
        local = json.loads(invoke("explore", BUGS / "dcl", "--variant", variant, "--json").stdout)
        ray = json.loads(invoke("explore", BUGS / "dcl", "--variant", variant, "--engine", "ray", "--json").stdout)
        assert (local["failure"] is None) == (ray["failure"] is None)
        if local["failure"] is not None:
            assert ray["failure"]["outcome"]["panic"] == local["failure"]["outcome"]["panic"]
            assert ray["failure"]["preemptions"] == local["failure"]["preemptions"]


def test_explore_split_at_the_root_finds_the_same():
    from sim.explorer import explore
    from sim.scenario import RunOptions

    def in_process(fn, tasks):
        return [fn(*t) for t in tasks]

    for variant in ("buggy", "fixed"):
        one = explore(BUGS / "treiber_aba" if variant == "buggy" else BUGS / "dcl", RunOptions(variant=variant),
                      delays=True)
        split = explore(BUGS / "treiber_aba" if variant == "buggy" else BUGS / "dcl", RunOptions(variant=variant),
                        delays=True, map_tasks=in_process)
        assert (one.failure is None) == (split.failure is None)
        if one.failure is not None:
            assert one.failure.preemptions == split.failure.preemptions
            assert one.failure.outcome["outcome"] == split.failure.outcome["outcome"]
