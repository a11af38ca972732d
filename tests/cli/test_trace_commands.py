"""`revtrace record` and `revtrace replay`: output, exit codes, and one-line errors for bad input.

Bad input: exit code 2, exactly one non-empty line on stderr starting `revtrace: error:`, nothing on
stdout, never a traceback. A divergence: exit code 1.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import ipc
from helpers import error_line, invoke, ok, panicking_seeds, refused

import tracer
from sim.scenario import load_scenario
from tracer import schema
from tracer.trace_stream import write_checked

def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rc(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "rc"
    ok(invoke("record", "race_counter_asm", "-o", out, "--cores", "2", "--seed", "3", "-p", "N=20",
              "--checkpoint-every", "25", "--json"))
    return out


@pytest.fixture(scope="module")
def nfs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "nfs"
    ok(invoke("record", "nfs_vmxmon", "-o", out, "--cores", "2", "--seed", panicking_seeds()[0], "--checkpoint-every", "100",
              "--json"))
    return out


# ---------------------------------------------------------------------------- record


def test_record_json(tmp_path):
    out = tmp_path / "r"
    res = ok(invoke("record", "race_counter_asm", "-o", out, "-c", "2", "-s", "3", "-p", "N=20", "--show", "counter",
                    "--json"))
    d = json.loads(res.stdout)
    run = tracer.RunDir.open(out)
    assert d["outcome"] == "completed"
    assert d["run_dir"] == str(out)
    assert d["events"] == run.meta["events"] == run.events().num_rows == 4 * 20 + 4  # 2N loads, 2N stores, 2 switches, 2 halts
    assert d["memory"] == {"counter": run.meta["memory"]["counter"]}
    assert (d["instructions"], d["cycles"]) == (run.meta["instructions"], run.meta["cycles"])
    assert run.meta["options"]["params"] == {"N": 20}
    assert run.meta["cores"] == {"host": 2}


def test_record_text(tmp_path):
    out = tmp_path / "r"
    res = ok(invoke("record", "race_counter_asm", "-o", out, "-p", "N=5", "--show", "counter"))
    assert "outcome: completed" in res.stdout
    assert f"recorded {tracer.RunDir.open(out).meta['events']:,} events to {out}" in res.stdout
    value = tracer.RunDir.open(out).meta["memory"]["counter"]
    assert f"counter = {value} ({value:#x})" in res.stdout
    assert "Traceback" not in res.output


def test_record_a_panic_is_a_successful_recording(nfs):
    run = tracer.RunDir.open(nfs)
    assert run.meta["outcome"] == "panic"
    assert run.meta["panic"]["function"] == "nfs_page_async_flush"
    assert len(run.table("checkpoints/index.parquet")) >= 5


def test_record_panic_output(tmp_path):
    seed = panicking_seeds(want=2)[1]
    res = ok(invoke("record", "nfs_vmxmon", "-o", tmp_path / "r", "-c", "2", "-s", seed, "--json"))
    d = json.loads(res.stdout)
    assert d["outcome"] == "panic"
    assert "BUG_ON" in d["panic"]["message"]
    assert d["panic"]["seq"] == d["events"] - 1


def test_record_force_replaces_a_run(tmp_path):
    out = tmp_path / "r"
    ok(invoke("record", "race_counter_asm", "-o", out, "-p", "N=5", "--json"))
    ok(invoke("record", "race_counter_asm", "-o", out, "-p", "N=7", "--force", "--json"))
    assert tracer.RunDir.open(out).meta["options"]["params"] == {"N": 7}


def test_record_unknown_scenario(tmp_path):
    refused(invoke("record", "race_countr", "-o", tmp_path / "r"), "no such scenario: race_countr",
            "race_counter_asm")
    assert not (tmp_path / "r").exists()


def test_record_unknown_scenario_path(tmp_path):
    (tmp_path / "empty").mkdir()
    refused(invoke("record", tmp_path / "empty", "-o", tmp_path / "r"), "no scenario.toml")


def test_record_unknown_variant(tmp_path):
    refused(invoke("record", "nfs_vmxmon", "-V", "v3", "-o", tmp_path / "r"), "unknown variant 'v3'", "v1, v2")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, fragment", [
    (["-p", "N=abc"], "--param N"),
    (["-p", "N"], "NAME=VALUE"),
    (["-p", "M=3"], "unknown parameter 'M'"),
    (["--cores", "0"], "--cores"),
    (["--sched", "fifo"], "unknown scheduler"),
    (["--memory-model", "arm"], "unknown memory model"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
    (["--step-limit", "0"], "--step-limit"),
])
def test_record_bad_options(tmp_path, args, fragment):
    refused(invoke("record", "race_counter_asm", "-o", tmp_path / "r", *args), fragment)
    assert not (tmp_path / "r").exists()


def test_record_checkpoint_every_zero(tmp_path):
    refused(invoke("record", "race_counter_asm", "-o", tmp_path / "r", "--checkpoint-every", "0"),
            "--checkpoint-every")


def test_record_existing_non_empty_directory(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    before = snapshot(out)
    refused(invoke("record", "race_counter_asm", "-o", out), str(out), "--force")
    assert snapshot(out) == before


def test_record_existing_run_without_force(tmp_path, rc):
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    before = snapshot(out)
    refused(invoke("record", "race_counter_asm", "-o", out), "not empty")
    assert snapshot(out) == before


def test_record_force_on_a_directory_that_is_not_a_run(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    before = snapshot(out)
    refused(invoke("record", "race_counter_asm", "-o", out, "--force"), "not a run directory")
    assert snapshot(out) == before


def test_record_unwritable_output(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    # (running as root, a chmod-ed directory would still be writable: a path under a file never is)
    refused(invoke("record", "race_counter_asm", "-o", f / "r"), str(f / "r"), "cannot write")
    refused(invoke("record", "race_counter_asm", "-o", f), "not a directory")
    assert f.read_text() == "x"


def test_record_unknown_show_symbol(tmp_path):
    refused(invoke("record", "race_counter_asm", "-o", tmp_path / "r", "--show", "countr"), "unknown symbol 'countr'",
            "counter")


def test_record_unknown_show_symbol_leaves_nothing(tmp_path):
    refused(invoke("record", "race_counter_asm", "-o", tmp_path / "r", "--show", "countr"))
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------- replay


def test_replay_text(rc):
    res = ok(invoke("replay", rc, "--to", "30", "--show", "counter"))
    assert "state after seq 30" in res.stdout
    assert "all matching the recording" in res.stdout
    assert "counter = " in res.stdout
    state = tracer.replay(rc, 30, show=["counter"])
    assert f"counter = {state.memory['counter']} " in res.stdout
    assert "Traceback" not in res.output


def test_replay_json(rc):
    res = ok(invoke("replay", rc, "--to", "30", "--show", "counter", "--json"))
    d = json.loads(res.stdout)
    assert d == json.loads(json.dumps(tracer.replay(rc, 30, show=["counter"]).as_dict()))
    assert d["seq"] == 30
    assert d["event"] == tracer.RunDir.open(rc).events().slice(30, 1).to_pylist()[0]
    assert {c["thread"] for c in d["cores"]} == {"t0", "t1"}
    assert all("registers" in c and "pc" in c for c in d["cores"])


def test_replay_to_panic(nfs):
    res = ok(invoke("replay", nfs, "--to", "panic", "--json"))
    d = json.loads(res.stdout)
    meta = tracer.RunDir.open(nfs).meta
    assert d["seq"] == meta["panic"]["seq"]
    assert d["event"]["kind"] == "panic"
    res = ok(invoke("replay", nfs, "--to", "panic"))
    assert f"event {d['seq']}: panic by flusher on client core" in res.stdout
    assert d["event_names"]["thread"] == "flusher"
    assert "flusher" in res.stdout


def test_replay_not_a_run_directory(tmp_path):
    refused(invoke("replay", tmp_path, "--to", "0"), "not a run directory", str(tmp_path))
    refused(invoke("replay", tmp_path / "missing", "--to", "0"), "no such run directory")
    (tmp_path / "meta.json").write_text("garbage")
    refused(invoke("replay", tmp_path, "--to", "0"), "meta.json")
    f = tmp_path / "file"
    f.write_text("x")
    refused(invoke("replay", f, "--to", "0"), "not a run directory (a file, not a directory)")


@pytest.mark.parametrize("to, fragment", [
    ("{n}", "out of range"), ("100000", "out of range"), ("-1", "out of range"),
    ("banana", "--to takes a seq (a number), 'panic' or 'end', not 'banana'"), ("panic", "did not panic"),
    ("", "--to takes a seq"),
])
def test_replay_bad_seq(rc, to, fragment):
    n = tracer.RunDir.open(rc).meta["events"]
    line = refused(invoke("replay", rc, f"--to={to.format(n=n)}"), fragment)
    if "range" in fragment:
        assert f"0..{n - 1}" in line


def test_replay_unknown_show(rc):
    refused(invoke("replay", rc, "--to", "3", "--show", "nope"), "unknown symbol 'nope'")


def test_replay_missing_to_is_a_usage_error(rc):
    res = invoke("replay", rc)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "--to" in res.output


def test_replay_refuses_a_changed_scenario(tmp_path):
    folder = tmp_path / "scn"
    shutil.copytree(load_scenario("race_counter_asm").folder, folder)
    out = tmp_path / "r"
    ok(invoke("record", folder, "-o", out, "-p", "N=5", "--json"))
    ok(invoke("replay", out, "--to", "5"))
    src = folder / "counter.s"
    src.write_text(src.read_text() + "\n; an innocent comment\n")
    refused(invoke("replay", out, "--to", "5"), "sources changed", "re-record")


# ---------------------------------------------------------------------------- divergence


def _tamper_new(run_path: Path, seq: int, delta: int) -> tuple[int, int]:
    part = run_path / "events" / "part-00000.arrows"
    with pa.memory_map(str(part)) as src:
        batches = list(ipc.open_stream(src))
    table = pa.Table.from_batches(batches, schema.EVENTS)
    new = table["new"].to_pylist()
    original = new[seq]
    new[seq] = original + delta
    table = table.set_column(table.schema.get_field_index("new"), schema.EVENTS.field("new"),
                             pa.array(new, pa.uint64()))
    tmp = part.with_suffix(".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_stream(sink, schema.EVENTS) as w:
        start = 0
        for b in batches:
            for piece in table.slice(start, b.num_rows).combine_chunks().to_batches():
                write_checked(w, piece)  # a forgery with good checksums: replay must see it
            start += b.num_rows
    os.replace(tmp, part)
    return original, original + delta


@pytest.fixture
def tampered(rc, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    rows = tracer.RunDir.open(out).events().to_pylist()
    write = [e for e in rows if e["kind"] == "write"][10]
    original, changed = _tamper_new(out, write["seq"], 5)
    return out, write["seq"], original, changed


def test_replay_divergence_exits_1_and_names_both_values(tampered):
    out, seq, original, changed = tampered
    line = error_line(invoke("replay", out, "--to", seq + 2), code=1)
    assert f"diverged at seq {seq}" in line
    assert f"new: recorded {changed}, replayed {original}" in line
    assert "cycle" not in line  # only the fields that differ


def test_replay_divergence_json(tampered):
    out, seq, original, changed = tampered
    res = invoke("replay", out, "--to", seq, "--json")
    assert res.exit_code == 1
    d = json.loads(res.stdout)["divergence"]
    assert d["seq"] == seq
    assert d["recorded"]["new"] == changed and d["replayed"]["new"] == original
    assert set(d["recorded"]) == set(d["replayed"]) >= {"cycle", "thread", "kind", "addr", "old", "new", "clock"}
    assert {k for k in d["recorded"] if d["recorded"][k] != d["replayed"][k]} == {"new"}


def test_replay_before_the_tampered_event_is_fine(tampered):
    out, seq, *_ = tampered
    ok(invoke("replay", out, "--to", seq - 1))


# ---------------------------------------------------------------------------- damaged runs


@pytest.fixture
def truncated(rc, tmp_path, arrow_messages):
    """A copy of the race_counter run whose part file is cut in the middle of its 4th batch."""
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    part = out / "events" / "part-00000.arrows"
    starts = [start for kind, start, _ in arrow_messages(part) if kind == "record batch"]
    assert len(starts) >= 5
    with pa.memory_map(str(part)) as src:
        readable = sum(b.num_rows for b in list(ipc.open_stream(src))[:3])
    os.truncate(part, (starts[3] + starts[4]) // 2)
    return out, part, readable


def test_replay_before_damage_works(truncated):
    out, _, readable = truncated
    ok(invoke("replay", out, "--to", readable - 1))


def test_replay_into_damage_is_one_line_naming_the_file(truncated):
    out, part, readable = truncated
    refused(invoke("replay", out, "--to", readable + 2), part.name, str(readable))


def test_replay_with_a_corrupted_checkpoint_index(rc, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    (out / "checkpoints" / "index.parquet").write_bytes(b"garbage")
    refused(invoke("replay", out, "--to", 5), "index.parquet")


def test_replay_with_a_damaged_checkpoint(rc, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    (out / "checkpoints" / "ckpt-00000.bin").write_bytes(b"garbage")
    refused(invoke("replay", out, "--to", 5), "ckpt-00000.bin", "damaged checkpoint")


def test_replay_without_checkpoints(rc, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(rc, out)
    shutil.rmtree(out / "checkpoints")
    refused(invoke("replay", out, "--to", 5), "no checkpoints")


def test_ctrl_c_keeps_what_was_recorded_and_says_so(tmp_path):
    """Ctrl-C reaches the recorder and its writer process (one process group): the writer lets
    the recorder decide, the recorder hands over its last rows, and the command says what it kept."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "revtrace.cli", "record", "race_counter_asm", "--cores", "2",
                             "-p", "N=5000000", "--step-limit", "500000000", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    part = out / "events" / "part-00000.arrows"
    while not (part.exists() and part.stat().st_size > 1_000_000):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the recording made no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revtrace: error: interrupted; the first "), lines
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True and run.meta["error"] == "KeyboardInterrupt"
    assert f"{run.meta['events']:,} events" in lines[0]
    assert run.check_events() == (run.meta["events"], [])


def test_replay_to_end(rc):
    n = tracer.RunDir.open(rc).meta["events"]
    out = json.loads(ok(invoke("replay", rc, "--to", "end", "--json")).stdout)
    assert out["seq"] == n - 1
