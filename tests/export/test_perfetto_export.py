"""`revtrace export --format perfetto`: the trace parsed back with the perfetto package's protobuf
classes and checked against the recording (tracks, slices, instants, counters, flows, times)."""

from __future__ import annotations

import inspect
import json
from collections import defaultdict

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent
from typer.testing import CliRunner

import queries
import tracer
from export import ExportError
from export.perfetto_trace import MESSAGE_FLOW_BASE, export_perfetto
from revtrace.cli import app

runner = CliRunner(mix_stderr=False) if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters \
    else CliRunner()


@pytest.fixture(scope="module")
def nfs(tmp_path_factory):
    base = tmp_path_factory.mktemp("nfs")
    run = tracer.record("nfs_vmxmon", base / "run", variant="v2", cores=2, seed=69)
    assert run.meta["outcome"] == "panic"
    out = base / "trace.pftrace"
    summary = export_perfetto(run.path, out, watch=["page0.flags", "req0.wb_flags"], counters=["page0.flags"])
    trace = Trace()
    trace.ParseFromString(out.read_bytes())
    return run.path, summary, trace


def parsed(trace: Trace):
    tracks = {p.track_descriptor.uuid: p.track_descriptor for p in trace.packet if p.HasField("track_descriptor")}
    events = defaultdict(list)  # track name -> [(ts, type, name, event)]
    for p in trace.packet:
        if p.HasField("track_event"):
            e = p.track_event
            d = tracks[e.track_uuid]
            parent = tracks[d.parent_uuid].name if d.parent_uuid else None
            events[(parent, d.name)].append((p.timestamp, e.type, e.name, e))
    return tracks, events


def slices(items):
    """BEGIN/END pairs of one track, which must nest properly: (start, end, name)."""
    out, stack = [], []
    for ts, kind, name, _ in sorted(items, key=lambda x: x[0]):  # (a stable sort: equal times keep file order)
        if kind == TrackEvent.TYPE_SLICE_BEGIN:
            stack.append((ts, name))
        elif kind == TrackEvent.TYPE_SLICE_END:
            start, n = stack.pop()
            assert ts >= start
            out.append((start, ts, n))
    assert not stack
    return out


def test_tracks_per_machine_and_core(nfs):
    _, _, trace = nfs
    tracks, _ = parsed(trace)
    names = {(tracks[d.parent_uuid].name if d.parent_uuid else None, d.name) for d in tracks.values()}
    for machine, cores in (("client", 2), ("server", 1)):
        assert (None, machine) in names
        for c in range(cores):
            for suffix in ("", " functions", " events"):
                assert (machine, f"core {c}{suffix}") in names
    assert (None, "invariant: dirty page with a clean request[0]") in names
    counter = [d for d in tracks.values() if d.name == "page0.flags (value)"]
    assert len(counter) == 1 and counter[0].HasField("counter")
    assert all(p.trusted_packet_sequence_id == 1 for p in trace.packet)


def test_time_slices_are_the_schedule(nfs):
    run_path, _, trace = nfs
    _, events = parsed(trace)
    with queries.open_run(run_path) as run:
        schedule = run.sql("SELECT machine, core, thread, start_cycle, end_cycle FROM schedule").to_pylist()
    got = sorted((m, int(name.split()[1]), n, start) for (m, name), items in events.items()
                 if m and name.startswith("core") and name.count(" ") == 1 for start, _, n in slices(items))
    assert got == sorted((r["machine"], r["core"], r["thread"], r["start_cycle"]) for r in schedule)
    for (m, name), items in events.items():
        if m and name.count(" ") == 1:
            s = slices(items)
            assert all(a[1] <= b[0] for a, b in zip(s, s[1:]))  # one core runs one thread at a time


def test_function_slices_name_the_functions_of_the_events(nfs):
    run_path, _, trace = nfs
    _, events = parsed(trace)
    calls = [s for (m, name), items in events.items() if m and name.endswith("functions") for s in slices(items)]
    with queries.open_run(run_path) as run:
        functions = {r["function"] for r in run.sql("SELECT DISTINCT s.function FROM events e JOIN sites s "
                                                      "USING (site)").to_pylist()}
    assert {n for _, _, n in calls} <= functions | {"?"}
    assert {"nfs_page_async_flush", "nfs_writeback_done", "vmx_ioctl_write"} <= {n for _, _, n in calls}


def test_watched_writes_counters_and_the_panic(nfs):
    run_path, summary, trace = nfs
    _, events = parsed(trace)
    instants = [(ts, name, e) for (m, n), items in events.items() if m and n.endswith("events")
                for ts, kind, name, e in items if kind == TrackEvent.TYPE_INSTANT]
    writes = sorted((ts, name) for ts, name, _ in instants if name.startswith(("page0.flags", "req0.wb_flags")))
    with queries.open_run(run_path) as run:
        history = run.history("page0.flags") + run.history("req0.wb_flags")
        panic = run.sql(f"SELECT cycle FROM events WHERE seq = {run.panic_seq}").to_pylist()[0]["cycle"]
        (window,) = run.windows()
    assert len(writes) == len(history) == summary["counts"]["writes"]
    assert sorted(w["cycle"] for w in history) == [ts for ts, _ in writes]
    assert any("+PG_dirty" in name for _, name in writes) and any("+PG_CLEAN" in name for _, name in writes)
    (p,) = [(ts, name) for ts, name, _ in instants if name.startswith("PANIC")]
    assert p[0] == panic and "BUG_ON" in p[1]
    counter = sorted(events[(None, "page0.flags (value)")], key=lambda x: x[0])
    page = [w for w in history if w["symbol"] == "page0.flags"]
    assert [e.counter_value for _, _, _, e in counter[1:]] == [w["new"] for w in sorted(page, key=lambda w: w["seq"])]
    (win,) = slices(events[(None, "invariant: dirty page with a clean request[0]")])
    assert (win[0], win[1]) == (window["start_cycle"], window["end_cycle"])


def test_flows_join_race_pairs_and_messages(nfs):
    run_path, summary, trace = nfs
    starts, ends = {}, {}
    for p in trace.packet:
        if p.HasField("track_event"):
            for f in p.track_event.flow_ids:
                starts[f] = (p.timestamp, p.track_event.name)
            for f in p.track_event.terminating_flow_ids:
                ends[f] = (p.timestamp, p.track_event.name)
    with queries.open_run(run_path) as run:
        races = run.races()
        cycle = {r["seq"]: r["cycle"] for r in run.sql("SELECT seq, cycle FROM events").to_pylist()}
        sends = run.sql("SELECT sync, cycle FROM events WHERE kind = 'send'").to_pylist()
        recvs = {r["sync"]: r["cycle"] for r in run.sql("SELECT sync, cycle FROM events WHERE kind = 'recv'").to_pylist()}
    race_flows = sorted(f for f in starts if f < MESSAGE_FLOW_BASE)
    assert len(race_flows) == len(races) == summary["counts"]["race pairs"] > 0
    assert sorted((starts[f][0], ends[f][0]) for f in race_flows) == sorted(
        (cycle[r["first"]["seq"]], cycle[r["second"]["seq"]]) for r in races)
    assert len(sends) == summary["counts"]["messages"] > 0
    for s in sends:
        flow = MESSAGE_FLOW_BASE + s["sync"]
        assert starts[flow][0] == s["cycle"]
        if s["sync"] in recvs:
            assert ends[flow][0] == recvs[s["sync"]] >= s["cycle"]


def test_a_range_and_the_cli(nfs, tmp_path):
    run_path, _, _ = nfs
    out = tmp_path / "part.pftrace"
    result = runner.invoke(app, ["export", str(run_path), "--format", "perfetto", "-o", str(out), "--from", "400",
                                 "--to", "472", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["from"], summary["to"], summary["events"]) == (400, 472, 73)
    assert summary["watch"] == ["page0.flags", "req0.wb_flags"]  # the broken invariant's words
    trace = Trace()
    trace.ParseFromString(out.read_bytes())
    with queries.open_run(run_path) as run:
        c500 = run.sql("SELECT cycle FROM events WHERE seq = 400").to_pylist()[0]["cycle"]
    slice_starts = [p.timestamp for p in trace.packet if p.HasField("track_event")
                    and p.track_event.type == TrackEvent.TYPE_SLICE_BEGIN and "first seq" in
                    {a.name for a in p.track_event.debug_annotations}]
    assert slice_starts and min(slice_starts) >= c500


@pytest.mark.parametrize("args, fragment", [
    (["--watch", "page9.flagz"], "page9.flagz"),
    (["--from", "900"], "--from 900 is outside the run's events 0..472"),
    (["--from", "20", "--to", "10"], "--from 20 is after --to 10"),
])
def test_bad_input_is_one_line(nfs, tmp_path, args, fragment):
    run_path, _, _ = nfs
    result = runner.invoke(app, ["export", str(run_path), "--format", "perfetto", "-o", str(tmp_path / "t"), *args])
    assert result.exit_code == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(ExportError, match="exists"):
        export_perfetto(run_path, run_path / "meta.json")
