"""`--schedule FILE` and `--save-schedule FILE` on run and record; malformed files: one line, exit 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from revtrace.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_save_and_follow(tmp_path):
    saved = tmp_path / "s.json"
    first = invoke("run", "nfs_vmxmon", "--cores", "2", "--seed", "69", "--save-schedule", str(saved), "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(saved.read_text())
    assert data["format"] == "revtrace-schedule" and data["cores"] == ["client:0", "client:1", "server:0"]
    again = invoke("run", "nfs_vmxmon", "--cores", "2", "--seed", "9", "--schedule", str(saved), "--json")
    assert again.exit_code == 0
    assert json.loads(again.output) == json.loads(first.output)
    run_dir = tmp_path / "run"
    rec = invoke("record", "nfs_vmxmon", "--cores", "2", "--schedule", str(saved), "-o", str(run_dir), "--json")
    assert rec.exit_code == 0, rec.output
    assert json.loads(rec.output)["panic"]["line"] == 41  # fs/nfs/write.c: the BUG_ON
    assert json.loads((run_dir / "schedule.json").read_text()) == data


def test_malformed_schedule_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "revtrace-schedule", "version": 1, "cores": ["host:0"], "memory_model": "sc", '
                   '"steps": [[0, "x"]]}')
    for command in (["run", "race_counter_asm"], ["record", "race_counter_asm", "-o", str(tmp_path / "r")]):
        result = invoke(*command, "--schedule", str(bad))
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"{bad}: step 0: expected" in lines[0] and "Traceback" not in result.output


def test_schedule_of_another_scenario_one_line_exit_2(tmp_path):
    saved = tmp_path / "s.json"
    invoke("run", "nfs_vmxmon", "--cores", "2", "--save-schedule", str(saved))
    result = invoke("run", "race_counter_asm", "--schedule", str(saved))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "the schedule is for cores client:0" in result.output
