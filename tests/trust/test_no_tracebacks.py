"""Bad input never ends in a traceback: one line naming the file and what is wrong, exit 2 (or,
for a recording's damage that still leaves an answer, a warning and exit 0)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from trusthelp import refusal

import queries.columns

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "race_counter_asm"


@pytest.fixture
def scenario(tmp_path) -> Path:
    dst = tmp_path / "sc"
    shutil.copytree(BUNDLED, dst)
    return dst


def edit(sc: Path, old: str, new: str) -> None:
    toml = sc / "scenario.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new, fragment", [
    ("N = 50", "N = " + "9" * 5000, "invalid TOML"),
    ("N = 50", "N = 99999999999999999999999", "params.N: 99999999999999999999999 does not fit in 64 bits"),
    ("N = 50", "N = -9223372036854775809", "does not fit in 64 bits"),
    ("timeslice = 100", "timeslice = " + "1" * 30, "timeslice: " + "1" * 30 + " does not fit in 64 bits"),
    ('entry = "worker"\n', 'entry = "worker"\ncores = [7]\n', "threads[0].cores: machine 'host' has 2 core(s)"),
    ('entry = "worker"\n', 'entry = "worker"\nregs = { r1 = 18446744073709551616 }\n',
     "threads[0].regs.r1: 18446744073709551616 does not fit in 64 bits"),
    ("cores = 2", "cores = " + "7" * 40, "machines.host.cores: an integer of 40 digits does not fit in 64 bits"),
    ("cores = 2", "cores = 65", "machines.host.cores: must be between 1 and 64"),
])
def test_scenario_values_are_range_checked(cli, scenario, old, new, fragment):
    edit(scenario, old, new)
    line = refusal(cli("run", scenario))
    assert fragment in line and "scenario.toml" in line
    assert len(line) < 700


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "99999999999999999999999"], "--seed must be between 0 and 2**64-1"),
    (["--seed", "-1"], "--seed must be between"),
    (["-p", "N=99999999999999999999999"], "--param N: 99999999999999999999999 does not fit in 64 bits"),
    (["-p", "N=" + "9" * 5000], "--param N"),
])
def test_run_options_are_range_checked(cli, args, fragment):
    line = refusal(cli("run", "race_counter_asm", *args))
    assert fragment in line and len(line) < 700


@pytest.mark.parametrize("command", [
    ["litmus", "data/litmus/SB.litmus", "--runs", "2"],
    ["hunt", "race_counter_asm", "--budget", "2"],
])
def test_litmus_and_hunt_seeds_are_range_checked(cli, command):
    line = refusal(cli(*command, "--seed", "99999999999999999999999"))
    assert "--seed must be between 0 and 2**64-1" in line


def test_a_megabyte_token_is_not_echoed(cli, scenario):
    src = scenario / "counter.s"
    src.write_text(src.read_text() + "\n    " + "x" * 1_000_000 + " r1, r2\n")
    line = refusal(cli("run", scenario))
    assert "counter.s:" in line and len(line) < 700


@pytest.mark.parametrize("field, value, command, fragment, code", [
    ("events", "abc", ["races"], "meta.json: events is 'abc', not a count", 0),
    ("events", "abc", ["replay", "--to", "3"], None, 0),
    ("machines", 12345, ["races"], "meta.json: machines is 12345, expected a list", 0),
    ("cores", {"host": "y"}, ["windows"], None, 0),
    ("scenario", 12345, ["replay", "--to", "3"], "meta.json: scenario is 12345, expected a string", 2),
    ("options", "abc", ["replay", "--to", "3"], 'meta.json: options is "abc", expected an object', 2),
    ("options", {"cores": "x"}, ["replay", "--to", "3"], "options are malformed", 2),
    ("seed", [1], ["replay", "--to", "3"], "meta.json: seed is [1], expected an integer", 2),
])
def test_mistyped_meta_fields(cli, fresh_run, field, value, command, fragment, code):
    meta = json.loads((fresh_run / "meta.json").read_text())
    meta[field] = value
    (fresh_run / "meta.json").write_text(json.dumps(meta))
    res = cli(command[0], fresh_run, *command[1:])
    if code == 2:
        line = refusal(res)
    else:
        assert res.exit_code == 0, res.output
        assert not res.exception or isinstance(res.exception, SystemExit)
        line = res.stderr
    if fragment:
        assert fragment in line


def test_a_full_disk_while_the_index_builds(cli, fresh_run, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(queries.columns.os, "pwrite", full)
    line = refusal(cli("races", fresh_run))
    assert "cannot build the index: No space left on device" in line and str(fresh_run) in line
    assert not list(fresh_run.glob(".index-build-*"))  # its own folder is removed
    monkeypatch.undo()
    assert cli("races", fresh_run).exit_code == 0


def test_dead_builders_folders_are_removed_by_the_next_build(cli, fresh_run):
    dead = fresh_run / ".index-build-18ed0000dead"
    (dead / "index").mkdir(parents=True)
    (dead / "index" / "accesses-x.cols").write_bytes(b"\0" * 4096)
    res = cli("races", fresh_run)  # builds (under the lock: no other builder can be alive)
    assert res.exit_code == 0 and not dead.exists()
