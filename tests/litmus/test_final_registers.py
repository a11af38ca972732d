"""A thread's final registers are observable without rewriting the program: `--show THREAD:rN`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from revtrace.cli import app
from sim.scenario import RunOptions, load_scenario
from sim.system import System

runner = CliRunner()


@pytest.mark.parametrize("seed", range(6))
def test_run_shows_a_threads_final_register(seed):
    # sb.s stores each thread's loaded value (r1) in res0/res1: the register must agree
    r = runner.invoke(app, ["run", "sb", "-m", "tso", "--seed", str(seed), "--show", "P0:r1", "--show", "P1:r1",
                            "--show", "res0", "--show", "res1", "--json"])
    assert r.exit_code == 0, r.output
    memory = json.loads(r.output)["memory"]
    assert memory["P0:r1"] == memory["res0"] and memory["P1:r1"] == memory["res1"]
    text = runner.invoke(app, ["run", "sb", "-m", "tso", "--seed", str(seed), "--show", "P0:r1"]).output
    assert f"  P0:r1 = {memory['P0:r1']} ({memory['P0:r1']:#x})" in text


def test_registers_survive_the_threads_exit():
    system = System(load_scenario("sb"), RunOptions(memory_model="tso", seed=1))
    assert system.run().outcome == "completed"
    assert all(t.state == 4 for t in system.threads)  # exited
    assert system.read_symbol("P0:r1") == system.read_symbol("res0")
    assert system.read_symbol("P1:sp") == system.threads[1].regs[15]


def test_record_keeps_final_registers(tmp_path):
    import tracer

    run = tracer.record("sb", tmp_path / "r", options=RunOptions(memory_model="tso", seed=2), show=["P1:r1", "res1"])
    assert run.meta["memory"]["P1:r1"] == run.meta["memory"]["res1"]


@pytest.mark.parametrize("show, message", [
    ("P9:r1", "P9:r1: no thread 'P9'; did you mean"),
    ("P0:r16", "P0:r16: 'r16' is not a register (r0..r15, at, sp)"),
    ("P0:eax", "P0:eax: 'eax' is not a register"),
])
def test_bad_register_names_fail_before_the_run(show, message):
    r = runner.invoke(app, ["run", "sb", "--show", show])
    assert r.exit_code == 2
    assert message in r.output and len(r.output.strip().splitlines()) == 1


def test_sweep_histograms_final_registers():
    r = runner.invoke(app, ["sweep", "sb", "-m", "tso", "--seeds", "0..9", "--show", "P0:r1", "--show", "res0",
                            "-j", "1", "--json"])
    assert r.exit_code == 0, r.output
    histograms = json.loads(r.output)["histograms"]
    assert histograms["P0:r1"] == histograms["res0"]  # sb.s stores r1 in res0
    assert sum(n for _, n in histograms["P0:r1"]) == 10
    bad = runner.invoke(app, ["sweep", "sb", "--seeds", "0..3", "--show", "P7:r1", "-j", "1"])
    assert bad.exit_code == 2 and "P7:r1: no thread 'P7'" in bad.output
