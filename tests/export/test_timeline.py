"""`revtrace timeline`: the picture's content (lanes, bars, markers, labels), not its pixels."""

from __future__ import annotations

import inspect
import re

import pytest
from typer.testing import CliRunner

import queries
import tracer
from export.story import read_story
from export.timeline import draw_timeline, timeline_figure
from revtrace.cli import app

runner = CliRunner(mix_stderr=False) if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters \
    else CliRunner()


@pytest.fixture(scope="module")
def nfs(tmp_path_factory):
    run = tracer.record("nfs_vmxmon", tmp_path_factory.mktemp("nfs") / "run", variant="v2", cores=2, seed=69)
    assert run.meta["outcome"] == "panic"
    with queries.open_run(run.path) as q:
        facts = {"history": q.history("page0.flags") + q.history("req0.wb_flags"), "races": q.races(),
                 "windows": q.windows(), "panic": q.panic_seq,
                 "cycle": {r["seq"]: r["cycle"] for r in q.sql("SELECT seq, cycle FROM events").to_pylist()},
                 "schedule": q.sql("SELECT * FROM schedule").to_pylist()}
    return run.path, facts


def figure(run_path, first=None, last=None, watch=None):
    story, batches = read_story(run_path, first, last, watch, counters=[])
    return timeline_figure(story, batches)


def by_gid(ax, prefix):
    artists = list(ax.collections) + list(ax.lines) + list(ax.patches) + list(ax.texts)
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def test_lanes_bars_and_legend(nfs):
    run_path, facts = nfs
    fig, summary = figure(run_path)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["client core 0", "client core 1", "server core 0"]
    assert summary["lanes"] == ["client core 0", "client core 1", "server core 0"]
    bars = by_gid(ax, "slice:")
    assert {b.get_gid() for b in bars} == {"slice:flusher", "slice:rpciod", "slice:vmxmon", "slice:nfsd"}
    assert sum(len(b.get_paths()) for b in bars) == len(facts["schedule"]) == summary["slices"]
    # flusher's bars lie on the lane of the core it ran on
    flusher_core = {(r["machine"], r["core"]) for r in facts["schedule"] if r["thread"] == "flusher"}
    assert flusher_core == {("client", 0)}
    ys = {round(float(v[1]), 1) for b in by_gid(ax, "slice:flusher") for p in b.get_paths() for v in p.vertices}
    assert ys == {1.7, 2.3}  # lane 2 (the top one, client core 0) +- 0.3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == ["flusher", "nfsd", "rpciod", "vmxmon"]


def test_watched_writes_windows_races_and_panic(nfs):
    run_path, facts = nfs
    fig, summary = figure(run_path, first=390)
    (ax,) = fig.axes
    in_range = [w for w in facts["history"] if w["seq"] >= 390]
    markers = by_gid(ax, "write:")
    assert len(markers) == len(in_range) == summary["writes"] > 0
    assert sorted(m.get_xdata()[0] for m in markers) == sorted(w["cycle"] for w in in_range)
    labels = [t.get_text() for t in by_gid(ax, "write-label:")]
    assert "page0.flags +PG_dirty" in labels and "req0.wb_flags +PG_CLEAN" in labels
    (window,) = facts["windows"]
    (span,) = by_gid(ax, "window:")
    assert (span.get_x(), span.get_x() + span.get_width()) == (window["start_cycle"], window["end_cycle"])
    assert any(t.get_text().strip() == "dirty page with a clean request[0] is false" for t in by_gid(ax, "window-label:"))
    races = by_gid(ax, "race:")
    assert len(races) == len(facts["races"]) == summary["races"]
    ends = sorted((a.xyann[0], a.xy[0]) for a in races)
    assert ends == sorted((facts["cycle"][r["first"]["seq"]], facts["cycle"][r["second"]["seq"]]) for r in facts["races"])
    (panic,) = [a for a in by_gid(ax, "panic") if a.get_gid() == "panic"]
    assert panic.get_xdata()[0] == facts["cycle"][facts["panic"]] and panic.get_ydata()[0] == 2  # client core 0
    assert by_gid(ax, "panic-label")[0].get_text() == "PANIC in nfs_page_async_flush (fs/nfs/write.c:41)"
    assert summary["panic"] == facts["panic"]


def test_cli_writes_png_and_svg_with_the_ids(nfs, tmp_path):
    run_path, _ = nfs
    png = tmp_path / "t.png"
    result = runner.invoke(app, ["timeline", str(run_path), "-o", str(png), "--from", "390"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3 lanes" in result.stdout and "the panic" in result.stdout
    svg = tmp_path / "t.svg"
    result = runner.invoke(app, ["timeline", str(run_path), "-o", str(svg), "--watch", "req0.wb_flags"])
    assert result.exit_code == 0, result.stderr
    ids = set(re.findall(r'id="([^"]+)"', svg.read_text()))
    assert {"panic", "lane:client core 0", "slice:flusher", "write:req0.wb_flags"} <= ids
    assert not any(i.startswith("write:page0") for i in ids)


@pytest.mark.parametrize("args, fragment", [
    (["-o", "x.txt"], "must be .png, .svg, .pdf"),
    (["-o", "x.png", "--watch", "nope"], "nope"),
    (["-o", "x.png", "--to", "5000"], "--to 5000 is outside"),
])
def test_bad_input_is_one_line(nfs, tmp_path, args, fragment):
    run_path, _ = nfs
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = runner.invoke(app, ["timeline", str(run_path), *args])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr


def test_a_run_without_findings_draws_lanes_only(tmp_path):
    run = tracer.record("locked_counter", tmp_path / "run", params=(("N", 30),))
    summary = draw_timeline(run.path, tmp_path / "rc.svg")
    assert summary["races"] == 0 and summary["windows"] == 0 and summary["panic"] is None
    assert summary["lanes"] == ["host core 0", "host core 1"] and summary["threads"] == ["t0", "t1"]
    assert summary["writes"] == 0  # no invariants, nothing watched
