"""`revtrace run`: text and --json output, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import helpers
from helpers import refused


PANICKY_TOML = """
name = "panicky"
preemption = "voluntary"

[params]
LIMIT = 3

[machines.box]
cores = 2
sources = ["main.s"]

[[threads]]
name = "counter_thread"
entry = "count"
cores = [1]

[[threads]]
name = "idler"
entry = "idle"
cores = [0]
"""

PANICKY_SOURCE = """
.word total, 0
count:
    mov r1, 0
.l:
    xadd r2, [total], 1
    add r1, 1
    bge r1, LIMIT, .boom
    jmp .l
.boom:
    ld r3, [total]
    bug_on r3, "total reached the limit"
    halt
idle:
    halt
"""


def invoke(*args: str):
    return helpers.invoke("run", *args)


def scenario(tmp_path: Path, toml: str = PANICKY_TOML, source: str = PANICKY_SOURCE) -> str:
    folder = tmp_path / "panicky"
    folder.mkdir(exist_ok=True)
    (folder / "scenario.toml").write_text(textwrap.dedent(toml))
    (folder / "main.s").write_text(textwrap.dedent(source))
    return str(folder)


def test_text_output():
    result = invoke("race_counter_asm", "--cores", "1", "--seed", "4", "--show", "counter")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "outcome: completed" in out
    assert "instructions: 604   cycles: 604" in out
    assert "counter = 100 (0x64)" in out
    assert result.stderr == ""


def test_json_output_keys_and_values():
    result = invoke("race_counter_asm", "--cores", "2", "--seed", "3", "--show", "counter", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"outcome", "instructions", "cycles", "memory"}
    assert data["outcome"] == "completed"
    assert isinstance(data["instructions"], int) and data["cycles"] >= data["instructions"] > 0
    assert set(data["memory"]) == {"counter"} and 2 <= data["memory"]["counter"] <= 100


def test_json_matches_the_simulator():
    from sim.scenario import RunOptions, load_scenario
    from sim.system import System

    system = System(load_scenario("locked_counter"), RunOptions(seed=8, cores=4, memory_model="tso"))
    outcome = system.run()
    result = invoke("locked_counter", "-c", "4", "-s", "8", "-m", "tso", "--show", "counter", "--show",
                    "counter_lock", "--json")
    data = json.loads(result.stdout)
    assert data == {**outcome.as_dict(), "memory": {"counter": 100, "counter_lock": 0}}


def test_same_seed_same_output_and_seeds_differ():
    outs = [invoke("race_counter_asm", "-c", "2", "-s", str(s), "--show", "counter", "--json").stdout for s in (1, 1, 2, 3, 4, 5)]
    assert outs[0] == outs[1]
    assert len({json.loads(o)["memory"]["counter"] for o in outs}) >= 2


def test_params_and_options_reach_the_run():
    data = json.loads(invoke("race_counter_asm", "-c", "1", "-p", "N=7", "--show", "counter", "--json").stdout)
    assert data["memory"]["counter"] == 14
    data = json.loads(invoke("race_counter_asm", "-c", "1", "--param", "N=0x10", "--show", "counter", "--json").stdout)
    assert data["memory"]["counter"] == 32
    data = json.loads(invoke("race_counter_asm", "--step-limit", "50", "--json").stdout)
    assert (data["outcome"], data["instructions"]) == ("step_limit", 50)
    for sched in ("random", "roundrobin", "pct"):
        result = invoke("locked_counter", "--sched", sched, "--depth", "2", "--quantum", "5", "--show", "counter")
        assert result.exit_code == 0 and "counter = 100" in result.stdout


def test_panic_json(tmp_path):
    result = invoke(scenario(tmp_path), "--json", "--show", "total")
    assert result.exit_code == 0  # a panic is a result, not an error of the command
    data = json.loads(result.stdout)
    assert data["outcome"] == "panic"
    panic = data["panic"]
    assert panic["message"] == "total reached the limit"
    assert (panic["machine"], panic["core"], panic["thread"]) == ("box", 1, "counter_thread")
    assert (panic["file"], panic["line"], panic["function"]) == ("main.s", 12, "count")
    assert isinstance(panic["site"], int) and panic["site"] >= 0
    assert data["memory"] == {"total": 3}


def test_panic_text(tmp_path):
    result = invoke(scenario(tmp_path), "-p", "LIMIT=5")
    assert result.exit_code == 0
    out = result.stdout
    assert "outcome: panic" in out
    assert "panic: total reached the limit" in out
    assert "at main.s:12 in count, thread counter_thread on box core 1" in out


def test_deadlock_output(tmp_path):
    source = "count:\n    sleep\n    halt\nidle:\n    halt\n"
    result = invoke(scenario(tmp_path, source=source), "--json")
    data = json.loads(result.stdout)
    assert data["outcome"] == "deadlock"
    assert data["blocked"] == ["counter_thread: sleep at main.s:2 (count)"]
    result = invoke(scenario(tmp_path, source=source))
    assert "blocked: counter_thread: sleep at main.s:2 (count)" in result.stdout


def test_unknown_scenario():
    refused(invoke("race_countr"), "no such scenario: race_countr", "did you mean 'race_counter'")


def test_unknown_variant():
    refused(invoke("race_counter_asm", "--variant", "v9"), "unknown variant 'v9'", "scenario.toml")


@pytest.mark.parametrize("param, fragment", [
    ("N", "--param expects NAME=VALUE, got 'N'"),
    ("=3", "--param expects NAME=VALUE"),
    ("N=x", "--param N: expected an integer, got 'x'"),
    ("M=3", "unknown parameter 'M'"),
    ("NN=3", "did you mean 'N'?"),
])
def test_bad_param(param, fragment):
    refused(invoke("race_counter_asm", "--param", param), fragment)


def test_unknown_show_symbol():
    refused(invoke("race_counter_asm", "--show", "countr"), "unknown symbol 'countr'", "did you mean 'counter'")


@pytest.mark.parametrize("args, fragment", [
    (["--sched", "fifo"], "unknown scheduler 'fifo'"),
    (["--cores", "0"], "--cores must be between 1 and 64, got 0"),
    (["--memory-model", "pso"], "unknown memory model 'pso'"),
    (["--depth", "0"], "--depth must be at least 1"),
    (["--step-limit", "0"], "--step-limit must be positive"),
])
def test_bad_options(args, fragment):
    refused(invoke("race_counter_asm", *args), fragment)


def test_malformed_source(tmp_path):
    folder = scenario(tmp_path, source=PANICKY_SOURCE.replace("xadd r2, [total], 1", "xadd r2, [totl], 1"))
    refused(invoke(folder), "main.s:6:", "unknown constant or symbol 'totl'")


def test_malformed_toml(tmp_path):
    folder = scenario(tmp_path, toml=PANICKY_TOML.replace("cores = 2", "cores = 0"))
    refused(invoke(folder), "scenario.toml", "machines.box.cores: must be between 1 and 64, got 0")
    folder = scenario(tmp_path, toml=PANICKY_TOML + "\nbogus = [\n")
    refused(invoke(folder), "scenario.toml", "invalid TOML")


def test_folder_without_a_scenario(tmp_path):
    refused(invoke(str(tmp_path)), f"no scenario.toml in {tmp_path}")
