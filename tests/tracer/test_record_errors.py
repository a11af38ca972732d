"""tracer.record refuses bad input with one exception carrying a location, and never clobbers."""

from __future__ import annotations

import json

import pytest

import tracer
from sim.errors import SimError
from tracer import TraceError


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_unknown_scenario(tmp_path):
    with pytest.raises(SimError, match="no such scenario: race_countr.*did you mean 'race_counter'"):
        tracer.record("race_countr", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_scenario_path(tmp_path):
    with pytest.raises(SimError, match="no scenario.toml"):
        tracer.record(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_variant(tmp_path):
    with pytest.raises(SimError, match="unknown variant 'v3'") as e:
        tracer.record("nfs_vmxmon", tmp_path / "out", variant="v3")
    assert "scenario.toml" in str(e.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fields, message", [
    ({"params": (("M", 3),)}, "unknown parameter 'M'"),
    ({"cores": 0}, "--cores"),
    ({"sched": "fifo"}, "unknown scheduler"),
    ({"memory_model": "arm"}, "unknown memory model"),
    ({"seed": -1}, "--seed"),
])
def test_bad_options(tmp_path, fields, message):
    with pytest.raises(SimError, match=message):
        tracer.record("race_counter_asm", tmp_path / "out", **fields)
    assert not (tmp_path / "out").exists()


def test_negative_checkpoint_interval(tmp_path):
    with pytest.raises(TraceError, match="checkpoint-every"):
        tracer.record("race_counter_asm", tmp_path / "out", checkpoint_every=-5)
    assert not (tmp_path / "out").exists()


def test_zero_checkpoint_interval_is_refused(tmp_path):
    with pytest.raises(TraceError, match="checkpoint-every"):
        tracer.record("race_counter_asm", tmp_path / "out", checkpoint_every=0)


def test_existing_non_empty_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    (out / "sub").mkdir()
    (out / "sub" / "more.txt").write_text("me too")
    before = _snapshot(out)
    with pytest.raises(TraceError, match="not empty.*--force") as e:
        tracer.record("race_counter_asm", out)
    assert str(out) in str(e.value)
    assert _snapshot(out) == before


def test_force_refuses_a_directory_that_is_not_a_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    before = _snapshot(out)
    with pytest.raises(TraceError, match="not a run directory"):
        tracer.record("race_counter_asm", out, force=True)
    assert _snapshot(out) == before


def test_empty_existing_directory_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run = tracer.record("race_counter_asm", out, params=(("N", 3),))
    assert run.meta["outcome"] == "completed"


def test_force_replaces_a_run(tmp_path):
    out = tmp_path / "out"
    first = tracer.record("race_counter_asm", out, params=(("N", 30),), checkpoint_every=20)
    n_ckpt = len(list((out / "checkpoints").glob("ckpt-*.bin")))
    assert n_ckpt > 2
    (out / "index.duckdb").write_bytes(b"stale index of the old run")
    second = tracer.record("race_counter_asm", out, force=True, params=(("N", 3),), seed=4)
    assert second.meta["seed"] == 4
    assert first.meta["events"] != second.meta["events"]
    # nothing of the old run survives: no stale index, no checkpoints beyond the new index
    assert not (out / "index.duckdb").exists()
    index = second.table("checkpoints/index.parquet").to_pylist()
    assert sorted(p.name for p in (out / "checkpoints").glob("ckpt-*.bin")) == sorted(r["file"] for r in index)
    assert tracer.RunDir.open(out).events().num_rows == second.meta["events"]


def test_output_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TraceError, match="not a directory"):
        tracer.record("race_counter_asm", f)
    assert f.read_text() == "x"


def test_unwritable_output(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    # a path under a regular file can never be created (root can write anywhere else)
    with pytest.raises(TraceError, match="cannot write") as e:
        tracer.record("race_counter_asm", f / "run")
    assert str(f / "run") in str(e.value)


def test_unknown_show_symbol_fails(tmp_path):
    with pytest.raises(SimError, match="unknown symbol 'countr'.*did you mean 'counter'"):
        tracer.record("race_counter_asm", tmp_path / "out", show=["countr"])


def test_unknown_show_symbol_leaves_nothing_behind(tmp_path):
    with pytest.raises(SimError):
        tracer.record("race_counter_asm", tmp_path / "out", show=["countr"])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_show_symbol_with_force_keeps_the_old_run(tmp_path):
    out = tmp_path / "out"
    tracer.record("race_counter_asm", out, params=(("N", 3),))
    before = _snapshot(out)
    with pytest.raises(SimError):
        tracer.record("race_counter_asm", out, force=True, show=["countr"])
    assert _snapshot(out) == before


def test_bad_source_fails_before_anything_is_written(tmp_path):
    folder = tmp_path / "scn"
    folder.mkdir()
    (folder / "scenario.toml").write_text('[machines.host]\nsources = ["main.s"]\n[[threads]]\nname = "T"\n'
                                          'entry = "main"\n')
    (folder / "main.s").write_text("main:\n    frobnicate r1\n    halt\n")
    with pytest.raises(SimError) as e:
        tracer.record(folder, tmp_path / "out")
    assert "main.s:2" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_meta_is_valid_json_with_sorted_keys(rc_run):
    text = (rc_run.path / "meta.json").read_text()
    meta = json.loads(text)
    assert list(meta) == sorted(meta)
