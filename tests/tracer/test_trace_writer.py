"""The recorder writes packed rows only; the TraceWriter works out thread, sync and clock from them,
in the recording process or in a writer process of its own. These tests hold both to an
independent observer that is told every column by the simulator itself."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tracer
import tracer.trace_writer
from sim.scenario import load_scenario
from tracer import TraceError, schema, writer_process
from tracer.happens_before import HappensBefore

CASES = {
    "nfs-panic": ("nfs_vmxmon", dict(cores=2, seed=69)),
    "nfs-tso": ("nfs_vmxmon", dict(cores=3, seed=5, memory_model="tso")),
    "race-counter": ("race_counter_asm", dict(cores=2, seed=4, params=(("N", 300),))),
    "sb-tso": ("sb", dict(seed=7, memory_model="tso")),
    # the kernel's rules: fences (a wmb waiting in the store buffer), marked and acquire accesses
    "mp-barrier-tso": ("bugs/mp_barrier", dict(variant="fixed", seed=3)),
    "seqlock": ("bugs/seqlock", dict(variant="fixed", seed=1)),
    "treiber": ("bugs/treiber_aba", dict(variant="fixed", seed=2)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def recorded(request, tmp_path_factory):
    scenario, options = CASES[request.param]
    return tracer.record(scenario, tmp_path_factory.mktemp(request.param) / "run", **options)


def test_every_column_matches_an_independent_observer(recorded, tr):
    reference = tr.reference_system(recorded.meta, None, keep=True).observer.rows
    events = recorded.events()
    assert events.num_rows == len(reference) > 0
    assert np.array_equal(events["seq"].to_numpy(), np.arange(events.num_rows))
    names = ("cycle", "machine", "core", "thread", "site", "kind", "addr", "old", "new", "sync", "atomic", "mode")
    columns = [events[n].to_pylist() for n in names]
    for seq, (got, want) in enumerate(zip(zip(*columns), reference)):
        assert got == want, f"seq {seq}"
    # clocks: an independent HappensBefore over the observer's events
    hb = HappensBefore(len(recorded.meta["threads"]))
    for t in load_scenario(recorded.meta["scenario"]).threads:
        if t.start:
            hb.start(t.tid, 0)
    code = {name: i for i, name in enumerate(schema.KIND_NAMES)}
    mode = {name: i for i, name in enumerate(schema.MODE_NAMES)}
    expected = [hb.event(code[r[5]], r[3], r[9], seq, mode[r[11]], r[6], r[7], r[8]) for seq, r in enumerate(reference)]
    assert events["clock"].to_pylist() == expected


def _files(run) -> dict[str, bytes]:
    return {str(p.relative_to(run.path)): p.read_bytes()
            for folder in ("events", "vclocks", "checkpoints") for p in sorted((run.path / folder).iterdir())}


def test_a_writer_process_and_inline_writing_give_identical_files(tmp_path):
    options = dict(cores=2, seed=69, checkpoint_every=300)
    background = tracer.record("nfs_vmxmon", tmp_path / "bg", background=True, **options)
    inline = tracer.record("nfs_vmxmon", tmp_path / "inline", background=False, **options)
    assert background.meta["outcome"] == "panic"
    files = _files(background)
    assert len([f for f in files if f.startswith("checkpoints/ckpt-")]) > 3
    assert files == _files(inline)
    for key in ("events", "instructions", "cycles", "panic", "truncated"):
        assert background.meta[key] == inline.meta[key]


@pytest.mark.parametrize("ring_bytes", [4096, 2 << 20], ids=["all-through-the-pipe", "ring-wraps"])
def test_rows_through_a_small_ring_or_the_pipe_give_identical_files(tmp_path, monkeypatch, ring_bytes):
    """The writer's shared ring: batches (about 0.8 MB here) larger than it go through the pipe,
    and a 2 MiB ring holds two at a time, the third starting over at its beginning once the
    writer is done with the first; either way the files are those written inline."""
    options = dict(cores=2, params=(("N", 60_000),), checkpoint_every=50_000)
    inline = tracer.record("race_counter_asm", tmp_path / "inline", background=False, **options)
    monkeypatch.setattr(writer_process, "RING_BYTES", ring_bytes)  # read by both sides after the fork
    background = tracer.record("race_counter_asm", tmp_path / "bg", background=True, **options)
    assert inline.meta["events"] > 200_000  # about 15 batches
    assert _files(background) == _files(inline)
    assert background.meta["events"] == inline.meta["events"]


def test_background_writing_is_the_default_when_a_core_is_spare(tmp_path, monkeypatch):
    started = []
    original = writer_process.WriterProcess.__init__

    def init(self, writer):
        started.append(writer)
        original(self, writer)

    monkeypatch.setattr(writer_process.WriterProcess, "__init__", init)
    monkeypatch.setattr(writer_process, "available", lambda: True)
    tracer.record("race_counter_asm", tmp_path / "a", params=(("N", 50),))
    assert len(started) == 1
    monkeypatch.setattr(writer_process, "available", lambda: False)
    tracer.record("race_counter_asm", tmp_path / "b", params=(("N", 50),))
    assert len(started) == 1


def disk_full_at_batch(monkeypatch, n: int, after_seconds: float = 0.0) -> None:
    """Make the n-th batch of events fail to write, as on a full disk (after a slow write)."""
    import time

    original = tracer.trace_writer.TraceStream.write
    batches = []

    def write(self, batch, metadata=None):
        if self.schema is schema.EVENTS:
            batches.append(batch.num_rows)
            if len(batches) == n:
                time.sleep(after_seconds)
                raise TraceError("cannot write: [Errno 28] No space left on device", str(self.folder))
        original(self, batch, metadata)

    monkeypatch.setattr(tracer.trace_writer.TraceStream, "write", write)


@pytest.mark.parametrize("background", [True, False], ids=["writer-process", "inline"])
def test_a_write_error_is_one_clear_error_and_keeps_what_was_written(tmp_path, monkeypatch, background):
    """Disk full on the third batch: the recording stops with the writer's message naming the
    file, meta says truncated with the error, and the two batches before it read back."""
    disk_full_at_batch(monkeypatch, 3)
    out = tmp_path / "r"
    with pytest.raises(TraceError, match="No space left on device") as failure:
        tracer.record("race_counter_asm", out, cores=2, params=(("N", 200_000),), background=background)
    assert str(out / "events") in str(failure.value)
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True
    assert "No space left on device" in run.meta["error"]
    t = run.events()
    assert t.num_rows == run.meta["events"] > 0
    assert np.array_equal(t["seq"].to_numpy(), np.arange(t.num_rows))
    assert run.check_events() == (t.num_rows, [])


def test_a_writer_process_that_dies_is_reported(tmp_path, monkeypatch):
    original = tracer.trace_writer.TraceWriter.rows
    calls = []

    def rows(self, first_seq, raw, messages, *pending):
        calls.append(first_seq)
        if len(calls) == 2:
            os._exit(3)  # in the writer process: gone without a word
        original(self, first_seq, raw, messages, *pending)

    monkeypatch.setattr(tracer.trace_writer.TraceWriter, "rows", rows)
    out = tmp_path / "r"
    with pytest.raises(TraceError, match="writer process stopped unexpectedly"):
        tracer.record("race_counter_asm", out, cores=2, params=(("N", 100_000),), background=True)
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True
    assert "writer process stopped unexpectedly" in run.meta["error"]
    assert run.events().num_rows == run.check_events()[0]


def test_a_write_error_while_the_pipe_is_full_is_still_the_writers_error(tmp_path, monkeypatch):
    """The writer fails while this process is blocked handing it rows (a slow, then full disk):
    the error reported is the writer's, not a broken pipe, and meta counts what it wrote."""
    disk_full_at_batch(monkeypatch, 2, after_seconds=1.0)  # meanwhile the recorder fills the pipe
    out = tmp_path / "r"
    with pytest.raises(TraceError, match="No space left on device"):
        tracer.record("race_counter_asm", out, cores=2, params=(("N", 500_000),), background=True)
    run = tracer.RunDir.open(out)
    assert "No space left on device" in run.meta["error"]
    assert run.meta["events"] == run.events().num_rows == run.check_events()[0] > 0


def test_an_interrupted_close_keeps_everything_and_counts_it(tmp_path, monkeypatch):
    """Ctrl-C while waiting for the writer to finish: nothing more is sent, the writer finishes
    what it has, and meta counts all of it."""

    def close(self):
        self._send(("close",))
        self._end_requests()
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_process.WriterProcess, "close", close)
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        tracer.record("race_counter_asm", out, cores=2, params=(("N", 2_000),), background=True)
    run = tracer.RunDir.open(out)
    assert run.meta["truncated"] is True and run.meta["error"] == "KeyboardInterrupt"
    complete = tracer.record("race_counter_asm", tmp_path / "again", cores=2, params=(("N", 2_000),), background=False)
    assert run.meta["events"] == run.events().num_rows == complete.meta["events"]


def test_a_later_writer_does_not_keep_an_earlier_one_waiting(tmp_path):
    """Each writer process closes the recording process's ends of the other writers' pipes, so
    ending one recording's requests ends its writer even while another recording goes on."""
    import threading

    from tracer.run_dir import RunDir

    def writer(name):
        return writer_process.WriterProcess(tracer.trace_writer.TraceWriter(
            RunDir.create(tmp_path / name), [(0, 0)], 1, [0]))

    first, second = writer("first"), writer("second")
    done = []
    waiter = threading.Thread(target=lambda: done.append(first.abandon()), daemon=True)
    waiter.start()
    waiter.join(timeout=30)
    assert done == [0], "the first writer never saw the end of its requests"
    assert second.close() == 0


def test_no_writer_process_to_be_had_means_writing_inline(tmp_path, monkeypatch):
    import errno

    def cannot_fork(self, writer):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(writer_process.WriterProcess, "__init__", cannot_fork)
    run = tracer.record("race_counter_asm", tmp_path / "r", cores=2, params=(("N", 300),), background=True)
    assert run.meta["truncated"] is False
    assert run.events().num_rows == run.meta["events"] > 0
