"""A damaged or incomplete recording is answered from its intact prefix only, never across a gap,
with the warning on EVERY query (and in --json); --strict refuses. Checksums written when the run
is recorded find flipped bytes in events and vclocks; the index's own files carry checksums too,
and a damaged index is rebuilt with a notice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from trusthelp import refusal
from pyarrow import ipc

import queries
import tracer
from tracer import record_session, schema
from tracer.trace_stream import CHECKSUM_KEY, TraceStream

QUERIES = [("races",), ("windows",), ("sql", "SELECT count(*) AS n, max(seq) AS last FROM events"),
           ("last-writer", "counter"), ("history", "counter"), ("value", "counter"), ("hb",)]


class SmallParts(TraceStream):
    def __init__(self, folder, schema_, roll_rows=0):
        super().__init__(folder, schema_, roll_rows=100)


def record_parted(path: Path, scenario: str, **options) -> Path:
    """A recording in many small batches and parts (a batch every ~100 instructions)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(record_session, "FLUSH_EVERY", 100)
    mp.setattr(tracer.trace_writer, "TraceStream", SmallParts)
    try:
        tracer.record(scenario, path, seed=3, background=False, **options)
    finally:
        mp.undo()
    assert len(list((path / "events").iterdir())) >= 3
    return path


@pytest.fixture(scope="module")
def parted(tmp_path_factory) -> Path:
    return record_parted(tmp_path_factory.mktemp("parted") / "run", "race_counter_asm", params=(("N", 100),))


@pytest.fixture
def copy(parted, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(parted, dst)
    return dst


def batch_spans(path: Path, arrow_messages) -> list[tuple[int, int]]:
    return [(a, b) for kind, a, b in arrow_messages(path) if kind == "record batch"]


def total_events(run: Path) -> int:
    return json.loads((run / "meta.json").read_text())["events"]


def ask(cli, run: Path, *args, code: int = 0):
    res = cli(*args[:1], run, *args[1:])
    assert res.exit_code == code, (args, res.output)
    assert "Traceback" not in res.output
    return res


def warns_every_time(cli, run: Path, fragment: str, cut: bool = True) -> None:
    """Every query command warns (each time, not only the one that builds the index), answers with
    exit 0, carries the warnings in --json, and refuses with --strict."""
    for _ in range(2):
        for args in QUERIES:
            res = ask(cli, run, *args)
            assert fragment in res.stderr, (args, res.stderr)
            assert ("answering from the intact prefix" in res.stderr) == cut
    res = ask(cli, run, *QUERIES[2], "--json")
    out = json.loads(res.stdout)
    assert any(fragment in w for w in out["warnings"]) and "result" in out
    for args in QUERIES:
        line = refusal(cli(*args[:1], run, *args[1:], "--strict"))
        assert "--strict" in line and fragment in line


def answered(run: Path) -> tuple[int, int | None]:
    with queries.open_run(run) as r:
        row = r.sql("SELECT count(*) AS n, max(seq) AS last FROM events").to_pylist()[0]
        return row["n"], row["last"]


def test_an_intact_run_has_no_warning(cli, parted):
    for args in QUERIES:
        res = ask(cli, parted, *args)
        assert "warning" not in res.stderr
    assert answered(parted) == (total_events(parted), total_events(parted) - 1)


def test_the_only_part_deleted(cli, fresh_run):
    (fresh_run / "events" / "part-00000.arrows").unlink()
    warns_every_time(cli, fresh_run, "events/part-00000.arrows is missing")
    res = ask(cli, fresh_run, "races")
    assert "meta.json says" in res.stderr
    assert answered(fresh_run) == (0, None)


def flip_a_data_byte(part: Path, batch: int, arrow_messages) -> None:
    """Flip one byte of a batch's body that changes what the batch decodes to (padding and
    alignment bytes change nothing and are rightly not reported)."""
    a, b = batch_spans(part, arrow_messages)[batch]
    original = part.read_bytes()
    before = _decoded(original)
    for pos in range(b - 1, a, -1):
        data = bytearray(original)
        data[pos] ^= 0x01
        if _decoded(bytes(data)) != before:
            part.write_bytes(bytes(data))
            return
    raise AssertionError("no byte of the batch changes it")


def _decoded(data: bytes):
    try:
        return [b.to_pylist() for b in ipc.open_stream(pa.BufferReader(data))]
    except (pa.ArrowException, OSError, ValueError):
        return None


def test_a_flipped_byte_in_events(cli, copy, arrow_messages):
    flip_a_data_byte(copy / "events" / "part-00001.arrows", 1, arrow_messages)
    warns_every_time(cli, copy, "events/part-00001.arrows")
    n, last = answered(copy)
    first_rows = ipc.open_stream(pa.memory_map(str(copy / "events" / "part-00000.arrows"))).read_all().num_rows
    assert first_rows < n < total_events(copy) and last == n - 1  # part 0 and part 1's first batch


def test_a_batch_changed_without_its_checksum(copy):
    """A value changed and the file rewritten as a valid stream, checksum kept: found."""
    part = copy / "events" / "part-00000.arrows"
    reader = ipc.open_stream(pa.memory_map(str(part)))
    batches = []
    while True:
        try:
            batches.append(reader.read_next_batch_with_custom_metadata())
        except StopIteration:
            break
    b0, m0 = batches[0]
    cols = b0.columns
    i = b0.schema.get_field_index("new")
    cols[i] = pa.array([v + 1 for v in cols[i].to_pylist()], pa.uint64())
    forged = pa.RecordBatch.from_arrays(cols, schema=b0.schema)
    with pa.OSFile(str(part), "wb") as sink, ipc.new_stream(sink, schema.EVENTS) as w:
        w.write_batch(forged, custom_metadata=m0)
        for b, m in batches[1:]:
            w.write_batch(b, custom_metadata=m)
    with pytest.warns(queries.QueryWarning, match="fails its checksum"):
        run = queries.open_run(copy)
    with run:
        assert run.events == 0 and run.warnings


def test_a_batch_without_a_checksum_is_not_trusted(copy):
    part = copy / "events" / "part-00000.arrows"
    batches = list(ipc.open_stream(pa.memory_map(str(part))))
    with pa.OSFile(str(part), "wb") as sink, ipc.new_stream(sink, schema.EVENTS) as w:
        for b in batches:
            w.write_batch(b)  # no checksum: a stream the recorder did not write
    with pytest.warns(queries.QueryWarning, match="has no checksum"):
        queries.open_run(copy).close()


def test_a_gap_between_parts_is_never_bridged(cli, copy, arrow_messages):
    part0 = copy / "events" / "part-00000.arrows"
    spans = batch_spans(part0, arrow_messages)
    part0.write_bytes(part0.read_bytes()[: spans[1][0] + 10])  # part 0 cut inside its 2nd batch
    warns_every_time(cli, copy, "events/part-00000.arrows: truncated")
    n, last = answered(copy)
    with queries.open_run(copy) as r:
        assert r.end == n and last == n - 1
        later = total_events(copy) - 5  # recorded in a later, intact part
        with pytest.raises(queries.QueryError, match="out of range"):
            r.value("counter", at=later)
    res = cli("value", copy, "counter", "--at", later)
    assert res.exit_code == 2 and "out of range" in res.stderr


def test_a_missing_middle_part(cli, copy):
    (copy / "events" / "part-00001.arrows").unlink()
    warns_every_time(cli, copy, "events/part-00001.arrows is missing")
    rows0 = ipc.open_stream(pa.memory_map(str(copy / "events" / "part-00000.arrows"))).read_all().num_rows
    assert answered(copy) == (rows0, rows0 - 1)


def test_damaged_vclocks_end_the_prefix_where_the_clocks_do(cli, tmp_path, arrow_messages):
    copy = record_parted(tmp_path / "locked", "locked_counter")
    vparts = sorted((copy / "vclocks").iterdir())
    assert len(vparts) >= 2
    flip_a_data_byte(vparts[1], 0, arrow_messages)
    warns_every_time(cli, copy, "vector clocks")
    n, _ = answered(copy)
    assert 0 < n < total_events(copy)
    # every event kept has all its clock changes: happens-before is as in the intact run
    with queries.open_run(copy) as r:
        kept = r.sql("SELECT seq, clock FROM events ORDER BY seq").to_pylist()
    assert len(kept) == n


def test_a_mistyped_meta_count_is_a_warning(cli, fresh_run):
    meta = json.loads((fresh_run / "meta.json").read_text())
    meta["events"] = "abc"
    (fresh_run / "meta.json").write_text(json.dumps(meta))
    warns_every_time(cli, fresh_run, "meta.json: events is 'abc', not a count", cut=False)


def test_a_flipped_byte_in_an_index_file_rebuilds_it_with_a_notice(cli, fresh_run):
    ask(cli, fresh_run, "races")
    f = next((fresh_run / "index").glob("accesses-*.cols"))
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    res = ask(cli, fresh_run, "sql", "SELECT count(*) AS n FROM accesses", "--json")
    assert "fails its checksum" in res.stderr and "rebuilt the index" in res.stderr
    assert "warning" not in res.stderr  # the recording itself is fine
    res2 = ask(cli, fresh_run, "sql", "SELECT count(*) AS n FROM accesses", "--json")
    assert res2.stderr == "" and res2.stdout == res.stdout


def test_a_truncated_index_duckdb_is_rebuilt_with_a_notice(cli, fresh_run):
    ask(cli, fresh_run, "races")
    idx = fresh_run / "index.duckdb"
    idx.write_bytes(idx.read_bytes()[:5000])
    res = ask(cli, fresh_run, "races")
    assert "index.duckdb is unreadable" in res.stderr and "rebuilt the index" in res.stderr
    assert ask(cli, fresh_run, "races").stderr == ""


def test_checksums_are_written_with_every_batch(parted):
    for folder in ("events", "vclocks"):
        for part in sorted((parted / folder).iterdir()):
            reader = ipc.open_stream(pa.memory_map(str(part)))
            assert reader.schema.metadata == schema.STREAM_METADATA
            n = 0
            while True:
                try:
                    _, meta = reader.read_next_batch_with_custom_metadata()
                except StopIteration:
                    break
                assert CHECKSUM_KEY in dict(meta)
                if folder == "events":
                    assert schema.VCLOCK_ROWS_KEY in dict(meta)
                n += 1
            assert n >= 1
