"""`revtrace sql` over Parquet exports: one export answers as its run does (every table and view,
the named queries, the CLI's table, JSON and CSV); many exports are one set of tables with a
`run` column whose views join within each run; a sweep's kept recordings export in one command;
damage, missing tables and other formats are one line; an export is never written to."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import invoke, ok, panicking_seeds, refused

import tracer
from export.parquet import export_parquet
from queries import QueryError, open_run
from queries.export_layout import EXPORT_FORMAT, UNAVAILABLE
from queries.exported import open_exports
from queries.sqlfiles import load_sql, sql_names

# C locals in stack frames, named per access (queries/stack_names.py): frame_sites, frames and
# stack_names must travel with the export for `symbol` to be the same
FRAMES_C = """
struct pair { long a; long b[2]; };
long result;
void get(long *p, long v) { *p = v; }
void fill(struct pair *s) { s->a = 1; s->b[1] = 2; }
long down(long n) {
    long here;
    get(&here, n);
    if (n > 0)
        here += down(n - 1);
    return here;
}
void worker(void) {
    long x;
    struct pair s;
    get(&x, 5);
    fill(&s);
    s.b[0] = x;
    result = down(2) + s.a + s.b[1] + s.b[0];
}
"""
FRAMES_TOML = """name = "frames"
[machines.m]
cores = 1
sources = ["frames.c"]
[[threads]]
name = "t1"
entry = "worker"
"""
# named queries that are not questions by themselves: build scripts, and the two whose caller
# supplies a table (truth, spans: queries/windows.py)
NOT_QUESTIONS = {"index_tables", "views", "parquet_tables", "windows", "window_threads"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, nfs_seed):
    """NFS v2 (panics) and v1 (completes) on the same seed, a C run with stack locals, each
    recorded and exported."""
    base = tmp_path_factory.mktemp("sqlx")
    out = {}
    for name, kw in (("v2", {"variant": "v2"}), ("v1", {"variant": "v1"})):
        run = tracer.record("nfs_vmxmon", base / name, cores=2, seed=nfs_seed, **kw)
        export_parquet(run.path, base / f"{name}-parquet")
        out[name] = (run.path, base / f"{name}-parquet")
    folder = base / "frames-scenario"
    folder.mkdir()
    (folder / "scenario.toml").write_text(FRAMES_TOML)
    (folder / "frames.c").write_text(FRAMES_C)
    run = tracer.record(folder, base / "frames", seed=0)
    export_parquet(run.path, base / "frames-parquet")
    out["frames"] = (run.path, base / "frames-parquet")
    return out


def _public_names(r) -> list[str]:
    return [row["n"] for row in r.sql(
        "SELECT DISTINCT table_name AS n FROM information_schema.tables WHERE table_schema = 'main' "
        "AND NOT starts_with(table_name, '_') ORDER BY 1").to_pylist()]


def _rows(r, sql: str, params=None) -> list[dict]:
    return r.sql(sql, params).to_pylist()


@pytest.mark.parametrize("which", ["v2", "frames"])
def test_every_table_and_view_of_the_run_answers_the_same_over_its_export(runs, which):
    run_path, export = runs[which]
    with open_run(run_path, progress=False) as run, open_exports([export]) as ex:
        names = _public_names(run)
        assert set(_public_names(ex)) == (set(names) - set(UNAVAILABLE)) | {"runs"}
        assert set(UNAVAILABLE) <= set(names)  # what is missing is missing for a reason
        for name in names:
            if name in UNAVAILABLE:
                continue
            assert _rows(ex, f"DESCRIBE {name}") == _rows(run, f"DESCRIBE {name}"), name
            want = _rows(run, f"SELECT * FROM {name} ORDER BY ALL")
            assert _rows(ex, f"SELECT * FROM {name} ORDER BY ALL") == want, name
        if which == "frames":  # the C locals came along: named per access, as on the run
            symbols = {r["symbol"] for r in _rows(ex, "SELECT symbol FROM accesses_named")}
            assert {"t1:worker.x", "t1:worker.s.b[1]", "t1:down.here"} <= symbols
            assert _rows(ex, "SELECT count(*) AS n FROM stack_names")[0]["n"] > 0


def _params(run, which: str) -> dict[str, dict]:
    """Parameters for every named query, taken from the run itself (nothing hard-coded)."""
    def one(sql: str):
        return next(iter(_rows(run, sql)[0].values()))

    if which == "frames":
        addrs = sorted({r["addr"] for r in _rows(run, "SELECT addr FROM accesses_named WHERE symbol = 't1:down.here'")})
        word = one("SELECT addr FROM words WHERE name = 'result'")
        return {"last_writer_local": {"name": "t1:down.here", "addrs": addrs, "before": 1_000_000, "mask": 0},
                "last_writer": {"addr": word, "before": 1_000_000}, "races": {}}
    flags = one("SELECT addr FROM words WHERE name = 'page0.flags'")
    req = one("SELECT addr FROM words WHERE name = 'req0.wb_flags'")
    lock = one("SELECT addr FROM words WHERE name = 'inode.i_lock'")
    panic = one("SELECT min(seq) FROM other_events WHERE kind = 'panic'")
    before = [r["site"] for r in _rows(run, "SELECT site FROM sites WHERE function = 'nfs_page_async_flush'")]
    after = [r["site"] for r in _rows(run, "SELECT site FROM sites WHERE function = 'nfs_writeback_done'")]
    reqs = [r["addr"] for r in _rows(run, "SELECT addr FROM words WHERE name LIKE 'req%.wb_flags' ORDER BY addr")]
    return {
        "last_writer": {"addr": flags, "before": panic},
        "last_writer_bit": {"addr": req, "before": panic, "bit": one("SELECT bit FROM bits WHERE name = 'PG_CLEAN'")},
        "last_writer_changed": {"addr": flags, "before": panic},
        "last_writer_local": {"name": "nobody:f.x", "addrs": [flags], "before": panic, "mask": 0},
        "history": {"addr": req, "mask": 0},
        "value_at": {"addr": flags, "at": panic},
        "races": {}, "races_all_pairs": {},
        # the declared ordering holds (no rows); the reverse one is violated, with rows to compare
        "hb_orderings": {"before_sites": after, "after_sites": before},
        "site_counts": {"sites": before + after},
        "lockset": {"field_addrs": reqs, "lock_addrs": [lock] * len(reqs)},
        "lockset_checked": {"field_addrs": reqs},
        "event_cycle": {"seq": panic},
    }


@pytest.mark.parametrize("which", ["v2", "frames"])
def test_the_named_queries_answer_the_same_over_the_export(runs, which):
    run_path, export = runs[which]
    with open_run(run_path, progress=False) as run, open_exports([export]) as ex:
        params = _params(run, which)
        if which == "v2":  # every named query that is a question is asked
            assert set(params) == set(sql_names()) - NOT_QUESTIONS
        answered = 0
        for name, p in params.items():
            want = sorted(map(repr, _rows(run, load_sql(name), p)))
            got = sorted(map(repr, _rows(ex, load_sql(name), p)))
            assert got == want, name
            answered += bool(want)
        assert answered >= len(params) - 1  # real answers, not empty ones (last_writer_local of nobody)


QUERY = ("SELECT seq, symbol, bit_name, new_bit, thread, function FROM bit_changes "
         "WHERE bit_name IN ('PG_dirty', 'PG_CLEAN') ORDER BY seq, symbol, bit_name")


def test_the_cli_prints_the_same_table_json_and_csv_for_the_export(runs, wide_console):
    run_path, export = runs["v2"]
    for extra in ([], ["--json"], ["--csv"], ["--limit", "3"]):
        want = ok(invoke("sql", run_path, QUERY, *extra)).stdout
        got = ok(invoke("sql", export, QUERY, *extra)).stdout
        assert got == want and len(want) > 200, extra
    rows = json.loads(ok(invoke("sql", export, "SELECT outcome, seed FROM runs", "--json")).stdout)
    assert rows == [{"outcome": "panic", "seed": json.loads((run_path / "meta.json").read_text())["seed"]}]


@pytest.mark.parametrize("name", sorted(UNAVAILABLE))
def test_a_table_only_a_run_has_is_refused_by_name(runs, name):
    _, export = runs["v2"]
    line = refused(invoke("sql", export, f"SELECT * FROM {name} LIMIT 1"), f"{name} is not in a Parquet export",
                   "query index")
    assert str(export) in line
    both = refused(invoke("sql", runs["v1"][1], export, f"SELECT count(*) FROM events, {name}"),
                   f"{name} is not in a Parquet export")
    assert "Catalog Error" not in both


def test_a_folder_that_is_neither_a_run_nor_an_export_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    refused(invoke("sql", tmp_path / "empty", "SELECT 1"), "neither a run directory", "nor a Parquet export")
    refused(invoke("sql", tmp_path / "nope", "SELECT 1"), "no such run directory or export")


def test_many_exports_are_one_table_with_a_run_column_and_views_join_within_a_run(runs, wide_console):
    v1, v2 = runs["v1"][1], runs["v2"][1]
    with open_exports([v1, v2]) as both:
        assert [r["run"] for r in _rows(both, "SELECT run FROM runs")] == ["v1-parquet", "v2-parquet"]
        for name in ("events", "events_named", "writes", "bit_changes", "sync_edges", "messages", "lock_order",
                     "schedule", "threads", "words"):
            for run_name, export in (("v1-parquet", v1), ("v2-parquet", v2)):
                with open_exports([export]) as one:
                    want = _rows(one, f"SELECT * FROM {name} ORDER BY ALL")
                got = _rows(both, f"SELECT * EXCLUDE (run) FROM {name} WHERE run = $r ORDER BY ALL",
                            {"r": run_name})
                assert got == want and want, (name, run_name)
            assert _rows(both, f"DESCRIBE {name}")[0]["column_name"] == "run"
        # the runs' ids overlap, so their names are per run: the same thread id names other threads
        per_run = _rows(both, "SELECT run, count(DISTINCT thread) AS n FROM events_named GROUP BY run ORDER BY run")
        assert [r["n"] for r in per_run] == [4, 4]
        outcomes = _rows(both, "SELECT run, outcome, count(*) AS events FROM events JOIN runs USING (run) "
                               "GROUP BY ALL ORDER BY run")
        assert [(r["outcome"], r["events"]) for r in outcomes] == [
            ("completed", json.loads((runs["v1"][0] / "meta.json").read_text())["events"]),
            ("panic", json.loads((runs["v2"][0] / "meta.json").read_text())["events"])]
    res = ok(invoke("sql", v1, v2, "SELECT run, count(*) AS n FROM writes GROUP BY run ORDER BY run", "--json"))
    assert [r["run"] for r in json.loads(res.stdout)] == ["v1-parquet", "v2-parquet"]


def test_two_exports_of_one_name_are_told_apart_by_their_paths(runs, tmp_path):
    for side in ("a", "b"):
        shutil.copytree(runs["v1"][1], tmp_path / side / "export")
    with open_exports([tmp_path / "a" / "export", tmp_path / "b" / "export"]) as both:
        assert [r["run"] for r in _rows(both, "SELECT run FROM runs")] == [
            str(tmp_path / "a" / "export"), str(tmp_path / "b" / "export")]
    refused(invoke("sql", tmp_path / "a" / "export", tmp_path / "a" / "export", "SELECT 1"), "given twice")
    refused(invoke("sql", runs["v1"][0], runs["v2"][1], "SELECT 1"), "a run directory, not a Parquet export")


def test_a_sweeps_kept_recordings_export_in_one_command_and_query_as_one_table(tmp_path):
    seeds = panicking_seeds(want=2)
    keep, out = tmp_path / "kept", tmp_path / "kept-parquet"
    ok(invoke("sweep", "nfs_vmxmon", "--cores", 2, "--seeds", f"{seeds[0]}..{seeds[1]}", "--keep", keep))
    kept = sorted((p.name for p in keep.iterdir()), key=lambda n: int(n.split("-")[1]))
    assert kept == [f"seed-{s}" for s in seeds]
    res = ok(invoke("export", keep, "-o", out))
    assert "exported 2 runs" in res.stdout and f"revtrace sql {out}" in res.stdout
    assert json.loads((out / "export.json").read_text())["runs"] == kept
    res = ok(invoke("sql", out, "SELECT run, seed, outcome, (SELECT count(*) FROM events e WHERE e.run = r.run) AS n "
                                "FROM runs r ORDER BY seed", "--json"))
    rows = json.loads(res.stdout)
    assert [(r["run"], r["seed"], r["outcome"]) for r in rows] == [(f"seed-{s}", s, "panic") for s in seeds]
    for r in rows:
        assert r["n"] == json.loads((keep / r["run"] / "meta.json").read_text())["events"]
    # the folder of exports and the exports named one by one are the same tables
    q = "SELECT run, seq, thread, function FROM bit_changes WHERE bit_name = 'PG_dirty' AND new_bit = 1 ORDER BY ALL"
    assert ok(invoke("sql", out, q, "--csv")).stdout == ok(invoke("sql", *(out / k for k in kept), q, "--csv")).stdout
    refused(invoke("export", keep, "-o", out), "use --force")
    ok(invoke("export", keep, "-o", out, "--force"))


@pytest.fixture
def copy(runs, tmp_path):
    """A fresh copy of the v2 export to damage."""
    target = tmp_path / "export"
    shutil.copytree(runs["v2"][1], target)
    return target


def test_a_truncated_parquet_file_is_one_line_with_its_path(copy):
    part = copy / "events" / "machine=client" / "part-0.parquet"
    with open(part, "r+b") as f:
        f.truncate(part.stat().st_size // 2)
    refused(invoke("sql", copy, "SELECT count(*) FROM events"), str(part), "truncated")


def test_a_damaged_parquet_file_of_the_right_size_is_one_line_with_its_path(copy):
    part = copy / "events" / "machine=client" / "part-0.parquet"
    data = bytearray(part.read_bytes())
    data[200:1200] = b"\xab" * 1000  # the data pages, not the footer: DuckDB fails while reading
    part.write_bytes(bytes(data))
    refused(invoke("sql", copy, "SELECT sum(seq), sum(addr) FROM events"), str(part), "damaged Parquet file")
    data[4:-8] = b"\xab" * (len(data) - 12)  # the footer too: DuckDB fails when the views are made
    part.write_bytes(bytes(data))
    refused(invoke("sql", copy, "SELECT count(*) FROM symbols"), str(part), "damaged Parquet file")


def test_a_missing_table_is_one_line_with_its_path(copy):
    shutil.rmtree(copy / "threads")
    refused(invoke("sql", copy, "SELECT 1"), str(copy / "threads" / "part-0.parquet"), "missing")


def test_an_export_of_another_format_and_mixed_formats_are_one_line(copy, runs):
    marker = json.loads((copy / "export.json").read_text())
    del marker["export_format"]  # as format 1 wrote it
    (copy / "export.json").write_text(json.dumps(marker))
    refused(invoke("sql", copy, "SELECT 1"), str(copy), "export format 1", f"reads format {EXPORT_FORMAT}")
    line = refused(invoke("sql", runs["v1"][1], copy, "SELECT 1"), "mixed export formats")
    assert line.startswith(f"revtrace: error: {copy}:")
    (copy / "export.json").write_text("{not json")
    refused(invoke("sql", copy, "SELECT 1"), str(copy), "export.json is unreadable")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_an_export_is_never_written_to(copy, runs, monkeypatch):
    before = _snapshot(copy)
    monkeypatch.chdir(copy)  # DuckDB's default spill folder is relative to the working directory
    ok(invoke("sql", copy, "SELECT count(*) FROM events_named JOIN sync_edges ON to_seq = seq"))
    ok(invoke("sql", copy, runs["v1"][1], "SELECT run, count(*) FROM events GROUP BY run"))
    refused(invoke("sql", copy, f"COPY (SELECT 1) TO '{copy}/x.parquet'"), "read-only")
    refused(invoke("sql", copy, "SELECT * FROM read_text('/etc/hostname')"), "disabled")
    with pytest.raises(QueryError, match="read-only"):
        with open_exports([copy]) as ex:
            ex.sql("CREATE TABLE main.t AS SELECT 1")
    assert _snapshot(copy) == before
    assert not (copy / ".tmp").exists()


def test_an_export_of_a_damaged_recording_warns_on_every_query_and_strict_refuses(tmp_path, arrow_messages):
    run = tracer.record("race_counter_asm", tmp_path / "run", params=(("N", 20_000),))
    part = sorted((run.path / "events").glob("part-*.arrows"))[-1]
    spans = arrow_messages(part)
    with open(part, "r+b") as f:
        f.truncate(spans[-2][1] + 10)
    export_parquet(run.path, tmp_path / "export")
    res = ok(invoke("sql", tmp_path / "export", "SELECT count(*) AS n FROM events", "--json"))
    answer = json.loads(res.stdout)
    assert "intact prefix" in answer["warnings"][0] and answer["result"][0]["n"] < run.meta["events"]
    assert "revtrace: warning:" in res.stderr
    refused(invoke("sql", tmp_path / "export", "SELECT 1", "--strict"), "--strict", "intact prefix")


def test_python_api_lists_the_names_and_closes(runs):
    with open_exports([runs["v2"][1]]) as ex:
        assert {"events", "events_named", "sync_edges", "schedule", "meta"} <= set(ex.names)
        assert not ({"word_offsets", "index_info"} & set(ex.names))
    assert os.path.isdir(runs["v2"][1])


def test_a_folder_holding_exports_and_folders_of_exports_reads_them_all(runs, tmp_path):
    shutil.copytree(runs["v1"][1], tmp_path / "all" / "v1")
    shutil.copytree(runs["v2"][1], tmp_path / "all" / "v2")
    (tmp_path / "all" / "notes").mkdir()  # not an export: left alone
    keep = tmp_path / "keep"
    for name in ("seed-a", "seed-b"):
        shutil.copytree(runs["frames"][0], keep / name, ignore=shutil.ignore_patterns("index*"))
    ok(invoke("export", keep, "-o", tmp_path / "all" / "sweep"))
    res = ok(invoke("sql", tmp_path / "all", "SELECT run, scenario FROM runs", "--json"))
    assert [(r["run"], r["scenario"]) for r in json.loads(res.stdout)] == [
        ("seed-a", "frames"), ("seed-b", "frames"), ("v1", "nfs_vmxmon"), ("v2", "nfs_vmxmon")]
    (tmp_path / "empty-sweep").mkdir()
    (tmp_path / "empty-sweep" / "export.json").write_text(json.dumps(
        {"format": "parquet", "kind": "runs", "export_format": EXPORT_FORMAT, "runs": []}))
    refused(invoke("sql", tmp_path / "empty-sweep", "SELECT 1"), "holds none")
    quoted = ok(invoke("sql", f"{tmp_path}/all/v*", "SELECT DISTINCT run FROM events ORDER BY run", "--csv"))
    assert quoted.stdout == "run\nv1\nv2\n"  # a glob no shell expanded
    refused(invoke("sql", f"{tmp_path}/all/x*", "SELECT 1"), "matches no run directory or export")


def test_each_asks_every_export_a_named_query_on_its_own(runs):
    (v1_run, v1), (v2_run, v2) = runs["v1"], runs["v2"]
    together = json.loads(ok(invoke("sql", v1, v2, "races.sql", "--each", "--json")).stdout)
    alone = []
    for name, run, export in (("v1-parquet", v1_run, v1), ("v2-parquet", v2_run, v2)):
        mine = json.loads(ok(invoke("sql", export, "races.sql", "--json")).stdout)
        assert mine == json.loads(ok(invoke("sql", run, "races.sql", "--json")).stdout) and mine
        alone += [{"run": name, **row} for row in mine]
    assert together == alone
    assert list(together[0])[0] == "run"
    refused(invoke("sql", v2_run, "races.sql", "--each"), "--each", "run directory")


def test_a_named_query_takes_its_parameters_from_param(runs):
    run, export = runs["v2"]
    with open_run(run, progress=False) as r:
        req = _rows(r, "SELECT addr FROM words WHERE name = 'req0.wb_flags'")[0]["addr"]
        bit = _rows(r, "SELECT bit FROM bits WHERE name = 'PG_CLEAN'")[0]["bit"]
    args = ("last_writer_bit.sql", "--param", f"addr={hex(req)}", "-p", "before=1000000", "-p", f"bit={bit}",
            "--json")
    want = json.loads(ok(invoke("sql", run, *args)).stdout)
    assert json.loads(ok(invoke("sql", export, *args)).stdout) == want and want[0]["symbol"] == "req0.wb_flags"
    lists = ("site_counts.sql", "-p", "sites=[1, 2, 3]", "--csv")
    assert ok(invoke("sql", export, *lists)).stdout == ok(invoke("sql", run, *lists)).stdout
    refused(invoke("sql", export, "last_writer_bit.sql"), "not provided", "addr")
    refused(invoke("sql", export, "SELECT 1", "--param", "addr"), "--param takes NAME=VALUE")
    refused(invoke("sql", export, "nope.sql"), "no such SQL file, nor a named query", "races")


def test_odd_values_in_an_exports_meta_json_are_nulls_in_runs(copy):
    meta = json.loads((copy / "meta.json").read_text())
    meta.update(seed=-1, outcome=["not", "text"], options={"cores": "two"})
    (copy / "meta.json").write_text(json.dumps(meta))
    rows = json.loads(ok(invoke("sql", copy, "SELECT seed, cores, outcome FROM runs", "--json")).stdout)
    assert rows == [{"seed": None, "cores": None, "outcome": "['not', 'text']"}]
