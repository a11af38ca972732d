"""A recording killed at any moment, or a damaged part file, leaves a run that opens and reads.

- SIGKILL mid-recording: meta says truncated, every flushed event is readable (at most one batch
  lost), replay works inside the readable range.
- Truncated or overwritten Arrow streams: everything before the damage reads back unchanged, the
  damage is reported with the file and the number of readable rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import tracer
from tracer import TraceError
from tracer.trace_stream import DamagedPart

# ---------------------------------------------------------------------------- SIGKILL

CHILD = textwrap.dedent("""
    import sys, tracer
    out, progress_file = sys.argv[1], sys.argv[2]
    with open(progress_file, "w", buffering=1) as f:
        def progress(instructions, events):
            f.write(f"{events}\\n")
        tracer.record("race_counter_asm", out, cores=2, seed=1, params=(("N", 2_000_000),),
                      step_limit=50_000_000, progress=progress)
""")


def _last_reported(progress_file) -> int:
    """The last event count the child reported (only complete lines count)."""
    if not progress_file.exists():
        return 0
    lines = progress_file.read_text().split("\n")[:-1]
    return int(lines[-1]) if lines else 0


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A race_counter recording SIGKILLed after it reported 250k events."""
    root = tmp_path_factory.mktemp("killed")
    out, progress_file = root / "run", root / "progress.txt"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(progress_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240  # generous: a loaded 2-core machine records slowly
    try:
        while True:
            reported = _last_reported(progress_file)
            part = out / "events" / "part-00000.arrows"
            if reported >= 250_000 and part.exists() and part.stat().st_size > 0:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the recording made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return out, reported


def test_killed_recording_opens_and_says_truncated(killed):
    out, _ = killed
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True
    assert run.meta["outcome"] == "recording"
    for name in ("symbols.parquet", "sites.parquet", "threads.parquet", "bits.parquet",
                 "checkpoints/index.parquet"):
        assert len(run.table(name)) > 0


def test_killed_recording_keeps_every_flushed_event(killed, tr):
    out, reported = killed
    run = tracer.RunDir.open(out)
    t = run.events()
    n = t.num_rows
    assert n > 0
    assert np.array_equal(t["seq"].to_numpy(), np.arange(n))
    # at least `reported` events existed when it was killed, and at most one batch (the one in
    # memory or being written) may be lost: no more than the largest batch on disk
    largest = max(tr.batch_rows(run.event_parts()[-1]) or [0])
    assert n >= reported - largest
    rows, damaged = run.check_events()
    if damaged:  # killed in the middle of writing a batch
        assert [d.path for d in damaged] == [run.event_parts()[-1]]
        assert damaged[0].readable_rows <= n
    else:
        assert rows == n
    # the vector clocks read back too
    assert run.vclocks().num_rows > 0


def test_killed_recording_can_be_queried(killed):
    out, _ = killed
    run = tracer.RunDir.open(out)
    events = run.events()
    counter = run.table("symbols.parquet").to_pylist()[0]["addr"]
    mid = events.num_rows // 2
    con = duckdb.connect()
    con.register("events", events)
    (writes, last_writer), = con.execute(
        "SELECT count(*) FILTER (WHERE kind = 'write'), max(seq) FILTER (WHERE kind = 'write' AND seq < ?) "
        "FROM events WHERE addr = ?", [mid, counter]).fetchall()
    kinds = events["kind"].cast(pa.string()).to_numpy(zero_copy_only=False)
    seqs = events["seq"].to_numpy()
    expected = seqs[(kinds == "write") & (events["addr"].to_numpy() == counter)]
    assert writes == len(expected) > 0
    assert last_writer == expected[expected < mid].max()


def test_killed_recording_replays_inside_the_readable_range(killed, tr):
    out, _ = killed
    run = tracer.RunDir.open(out)
    n = run.events().num_rows
    rows = run.events_between(n - 1, n - 1).to_pylist()
    state = tracer.replay(run, n - 1, show=["counter"])
    assert state.event == rows[0]
    assert tr.replayed_state(state) == tr.reference_state(run.meta, n - 1, ["counter"])
    for seq in (0, n // 3, n - 2):
        assert tracer.replay(run, seq).seq == seq


def test_killed_recording_refuses_seqs_past_the_readable_end(killed):
    out, _ = killed
    run = tracer.RunDir.open(out)
    n = run.events().num_rows
    if run.check_events()[1]:
        pytest.skip("killed in the middle of a batch: covered by test_seq_past_a_damaged_tail_is_refused")
    with pytest.raises(TraceError, match="out of range"):
        tracer.replay(run, n)


# ---------------------------------------------------------------------------- interrupted


def test_interrupted_recording_flushes_everything(tmp_path, tr):
    """Ctrl-C (or any exception) mid-recording: all events so far are flushed, meta says so."""
    calls = []

    def progress(instructions, events):
        calls.append(events)
        if len(calls) == 4:
            raise KeyboardInterrupt

    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        tracer.record("race_counter_asm", out, cores=2, params=(("N", 200_000),), progress=progress)
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True
    assert run.meta["outcome"] == "recording"
    assert run.meta["error"] == "KeyboardInterrupt"
    t = run.events()
    assert t.num_rows == run.meta["events"] >= calls[-1] > 0
    assert np.array_equal(t["seq"].to_numpy(), np.arange(t.num_rows))
    assert run.check_events() == (t.num_rows, [])
    seq = t.num_rows - 1
    assert tr.replayed_state(tracer.replay(run, seq, show=["counter"])) == \
        tr.reference_state(run.meta, seq, ["counter"])
    with pytest.raises(TraceError, match="out of range"):
        tracer.replay(run, t.num_rows)


# ---------------------------------------------------------------------------- damaged files


@pytest.fixture
def damaged(rc_batches, tmp_path, tr):
    """A copy of a many-batch run and the spans of its part file's record batches."""
    run = tr.copy_run(rc_batches, tmp_path / "r")
    part = run.event_parts()[0]
    spans = tr.batch_spans(part)
    sizes = tr.batch_rows(part)
    assert len(spans) == len(sizes) > 10
    return run, part, spans, sizes, rc_batches.events()


def _truncate_in_batch(part, spans, k):
    start, end = spans[k]
    os.truncate(part, (start + end) // 2)


def _overwrite_batch_header(part, spans, k):
    start, _ = spans[k]
    with open(part, "r+b") as f:
        f.seek(start)
        f.write(b"\xde\xad\xbe\xef\x13\x37\x13\x37")


DAMAGE = {"truncated": _truncate_in_batch, "overwritten": _overwrite_batch_header}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_everything_before_the_damage_reads_back(damaged, how):
    run, part, spans, sizes, original = damaged
    k = 10
    DAMAGE[how](part, spans, k)
    readable = sum(sizes[:k])
    run = tracer.RunDir.open(run.path)
    t = run.events()
    assert t.num_rows == readable
    assert t.to_pylist() == original.slice(0, readable).to_pylist()
    assert sum(b.num_rows for b in run.reader()) == readable
    assert run.events_between(readable - 5, readable + 5)["seq"].to_pylist() == list(range(readable - 5, readable))


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_strict_reading_names_the_file_and_readable_rows(damaged, how):
    run, part, spans, sizes, _ = damaged
    k = 10
    DAMAGE[how](part, spans, k)
    readable = sum(sizes[:k])
    with pytest.raises(DamagedPart) as e:
        run.events(strict=True)
    assert e.value.path == part
    assert e.value.readable_rows == readable
    assert str(part) in str(e.value)
    assert f"first {readable} rows are readable" in str(e.value)
    _, parts = run.check_events()
    assert [d.path for d in parts] == [part]
    assert parts[0].readable_rows == readable


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_check_events_counts_readable_rows_once(damaged, how):
    run, part, spans, sizes, _ = damaged
    DAMAGE[how](part, spans, 10)
    rows, _ = run.check_events()
    assert rows == sum(sizes[:10]) == run.events().num_rows


def test_replay_before_the_damage_still_works(damaged, tr):
    run, part, spans, sizes, _ = damaged
    _truncate_in_batch(part, spans, 10)
    readable = sum(sizes[:10])
    for seq in (0, readable // 2, readable - 1):
        assert tracer.replay(run.path, seq, show=["counter"]).memory == \
            tr.reference_state(run.meta, seq, ["counter"])["memory"]


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_replay_into_the_damage_is_a_clear_error(damaged, how):
    run, part, spans, sizes, _ = damaged
    DAMAGE[how](part, spans, 10)
    readable = sum(sizes[:10])
    with pytest.raises(TraceError) as e:
        tracer.replay(run.path, readable + 3)
    assert part.name in str(e.value)
    assert str(readable) in str(e.value)


def test_seq_past_a_damaged_tail_is_refused(damaged):
    run, part, spans, sizes, _ = damaged
    # what a recorder killed in the middle of writing batch 10 leaves
    _truncate_in_batch(part, spans, 10)
    meta = dict(run.meta, truncated=True, outcome="recording", events=0)
    run.write_meta(meta)
    readable = sum(sizes[:10])
    assert tracer.replay(run.path, readable - 1).seq == readable - 1
    with pytest.raises(TraceError, match="out of range"):
        tracer.replay(run.path, readable)


def test_part_file_with_a_damaged_schema(damaged):
    run, part, *_ = damaged
    os.truncate(part, 100)
    run = tracer.RunDir.open(run.path)
    assert run.events().num_rows == 0
    rows, parts = run.check_events()
    assert rows == 0
    assert [(d.path, d.readable_rows) for d in parts] == [(part, 0)]


def test_empty_part_file(damaged):
    run, part, *_ = damaged
    os.truncate(part, 0)
    run = tracer.RunDir.open(run.path)
    assert run.events().num_rows == 0
    assert run.check_events()[0] == 0


def test_damage_in_a_middle_part_leaves_a_dense_prefix(tmp_path, monkeypatch, tr):
    import functools

    import tracer.trace_writer as rs
    from tracer.trace_stream import TraceStream

    monkeypatch.setattr(rs, "TraceStream", functools.partial(TraceStream, roll_rows=100))
    run = tracer.record("race_counter_asm", tmp_path / "r", cores=2, seed=3, params=(("N", 200),), checkpoint_every=60)
    parts = run.event_parts()
    assert len(parts) > 4
    os.truncate(parts[2], parts[2].stat().st_size // 2)
    seqs = run.events()["seq"].to_numpy()
    assert np.array_equal(seqs, np.arange(len(seqs)))
