"""`revtrace export --format parquet`: Hive-partitioned tables that DuckDB, pyarrow.dataset and
Polars read back with the same answers as `revtrace sql` on the run itself."""

from __future__ import annotations

import inspect
import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

import queries
import tracer
from export import ExportError
from export.parquet import export_parquet
from revtrace.cli import app

runner = CliRunner(mix_stderr=False) if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters \
    else CliRunner()

# The same question, asked of the run (revtrace sql) and of the export (events with machine names)
SUMMARY_SQL = """SELECT machine, kind, count(*) AS n, sum(seq) AS seqs, sum(cycle) AS cycles,
       sum(thread) AS threads, sum(core) AS cores, sum(site) AS sites, sum(addr) AS addrs,
       sum(old) AS olds, sum(new) AS news, sum(clock) AS clocks, sum(sync) AS syncs,
       sum(atomic::INT) AS atomics
FROM {events} GROUP BY ALL ORDER BY ALL"""
RUN_EVENTS = "(SELECT m.name AS machine, e.* EXCLUDE (machine) FROM events e JOIN machines m USING (machine))"


@pytest.fixture(scope="module")
def nfs(tmp_path_factory):
    """The NFS story on two cores, seed 2: two machines, messages, the panic."""
    base = tmp_path_factory.mktemp("nfs")
    run = tracer.record("nfs_vmxmon", base / "run", variant="v2", cores=2, seed=69)
    assert run.meta["outcome"] == "panic"
    out = base / "export"
    summary = export_parquet(run.path, out)
    return run.path, out, summary


def test_layout_is_hive_partitioned_by_machine(nfs):
    _, out, summary = nfs
    assert sorted(p.relative_to(out).as_posix() for p in (out / "events").rglob("*.parquet")) == [
        "events/machine=client/part-0.parquet", "events/machine=server/part-0.parquet"]
    for table in ("vclocks", "symbols", "bits", "sites", "threads", "machines", "words"):
        assert (out / table / "part-0.parquet").is_file()
    readme = (out / "README.md").read_text()
    for table in ("events", "accesses", "vclocks", "symbols", "bits", "sites", "threads", "machines"):
        assert f"| {table} |" in readme
    assert json.loads((out / "export.json").read_text())["tables"] == summary["tables"]
    assert json.loads((out / "meta.json").read_text())["outcome"] == "panic"


def test_duckdb_reads_it_back_with_the_answers_of_revtrace_sql(nfs):
    run_path, out, _ = nfs
    with queries.open_run(run_path) as run:
        expected = run.sql(SUMMARY_SQL.format(events=RUN_EVENTS)).to_pylist()
        expected_acc = run.sql("SELECT kind, count(*), sum(addr), sum(new) FROM accesses GROUP BY ALL ORDER BY ALL")
        expected_vc = run.sql("SELECT count(*), sum(value), sum(seq) FROM vclocks").to_pylist()
    con = duckdb.connect()
    events = f"read_parquet('{out}/events/*/*.parquet', hive_partitioning = true)"
    got = con.sql(SUMMARY_SQL.format(events=events)).to_arrow_table().to_pylist()
    assert got == expected and len(got) > 5
    got_acc = con.sql(f"SELECT kind, count(*), sum(addr), sum(new) FROM read_parquet("
                      f"'{out}/accesses/*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL").to_arrow_table()
    assert got_acc.to_pylist() == expected_acc.to_pylist()
    got_vc = con.sql(f"SELECT count(*), sum(value), sum(seq) FROM '{out}/vclocks/*.parquet'").to_arrow_table().to_pylist()
    assert [list(r.values()) for r in got_vc] == [list(r.values()) for r in expected_vc]


def test_pyarrow_dataset_and_polars_read_the_same_rows(nfs):
    import polars as pl

    run_path, out, summary = nfs
    events = ds.dataset(out / "events", format="parquet", partitioning="hive").to_table()
    assert events.num_rows == summary["events"]
    assert set(events.column("machine").to_pylist()) == {"client", "server"}
    frame = pl.scan_parquet(str(out / "events" / "**" / "*.parquet"), hive_partitioning=True).collect()
    assert frame.height == summary["events"]
    assert frame.sort("seq")["seq"].to_list() == list(range(summary["events"]))
    by_machine = dict(frame.group_by("machine").agg(pl.len()).iter_rows())
    with queries.open_run(run_path) as run:
        expected = dict(run.sql("SELECT m.name, count(*) FROM events JOIN machines m USING (machine) "
                                "GROUP BY ALL").to_pylist()[i].values() for i in range(2))
    assert by_machine == expected
    threads = pl.read_parquet(str(out / "threads" / "part-0.parquet"))
    assert sorted(threads["name"].to_list()) == ["flusher", "nfsd", "rpciod", "vmxmon"]


def test_a_million_events_export_row_for_row(tmp_path):
    run = tracer.record("race_counter_asm", tmp_path / "run", params=(("N", 250_000),), step_limit=10_000_000)
    events = run.events()
    assert events.num_rows >= 1_000_000
    export_parquet(run.path, tmp_path / "export")
    back = ds.dataset(tmp_path / "export" / "events", format="parquet", partitioning="hive").to_table()
    back = back.sort_by("seq")
    assert back.num_rows == events.num_rows
    machines = run.meta["machines"]
    for name in events.column_names:
        want = events.column(name)
        if name == "machine":
            want = pa.array(np.array(machines)[want.to_numpy()])
        elif name == "kind":
            want = want.cast(pa.string())
        got = back.column(name)
        assert pc.all(pc.equal(got.cast(want.type), want)).as_py(), name


def test_cli_export_and_its_errors(nfs, tmp_path):
    run_path, _, _ = nfs
    out = tmp_path / "pq"
    result = runner.invoke(app, ["export", str(run_path), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "exported 473 events" in result.stdout and "hive_partitioning" in result.stdout
    again = runner.invoke(app, ["export", str(run_path), "-o", str(out)])
    assert again.exit_code == 2 and "use --force" in again.stderr and "Traceback" not in again.stderr
    forced = runner.invoke(app, ["export", str(run_path), "-o", str(out), "--force", "--json"])
    assert forced.exit_code == 0 and json.loads(forced.stdout)["events"] == 473
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("x")
    refused = runner.invoke(app, ["export", str(run_path), "-o", str(tmp_path / "mine"), "--force"])
    assert refused.exit_code == 2 and "not an export" in refused.stderr
    assert (tmp_path / "mine" / "precious.txt").exists()
    missing = runner.invoke(app, ["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and missing.stderr.strip().endswith("no such run directory")
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = runner.invoke(app, ["export", str(run_path), "-o", str(tmp_path / "y"), "--format", "csv"])
    assert bad.exit_code == 2 and "--format must be one of" in bad.stderr


def test_a_truncated_recording_exports_its_intact_prefix_with_a_warning(tmp_path, arrow_messages):
    run = tracer.record("race_counter_asm", tmp_path / "run", params=(("N", 20_000),))
    part = sorted((run.path / "events").glob("part-*.arrows"))[-1]
    spans = arrow_messages(part)
    with open(part, "r+b") as f:
        f.truncate(spans[-2][1] + 10)  # the last batch cut short
    summary = export_parquet(run.path, tmp_path / "export")
    assert 0 < summary["events"] < run.meta["events"]
    assert any("intact prefix" in w for w in summary["warnings"])
    with pytest.raises(ExportError, match="not empty"):
        export_parquet(run.path, tmp_path / "export")
