"""`revtrace sql` cannot write, reach the file system, run several statements or run forever.

Every escape the adversarial pass found (and a few more) is refused with one line and exit 2, and
the recording is byte-for-byte the same afterwards; a runaway query is interrupted by --timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from trusthelp import refusal

import queries
from queries.readonly import is_locked


def digest(run: Path) -> dict[str, str]:
    """Every recording file's hash (the index is a cache and may be rebuilt: not included)."""
    out = {}
    for f in sorted(run.rglob("*")):
        rel = f.relative_to(run).as_posix()
        if f.is_file() and not rel.startswith(("index", ".index")):
            out[rel] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def escapes(run: Path, tmp: Path) -> list[tuple[str, str]]:
    """(statement, a fragment of its refusal)."""
    r = str(run)
    return [
        (f"COPY (SELECT 1 AS a) TO '{r}/meta.json' (FORMAT csv)", "COPY"),
        (f"COPY symbols TO '{r}/symbols.parquet'", "COPY"),
        (f"COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY"),
        ("DETACH run_index", "DETACH"),
        (f"ATTACH '{r}/index.duckdb' AS w", "ATTACH"),
        (f"ATTACH '{tmp}/new.duckdb'", "ATTACH"),
        ("DROP VIEW events", "DROP"),
        ("DROP TABLE symbols", "DROP"),
        ("CREATE TABLE scratch AS SELECT 1 AS a", "CREATE"),
        ("INSERT INTO symbols SELECT * FROM symbols", "INSERT"),
        ("DELETE FROM meta", "DELETE"),
        ("UPDATE meta SET value = '0'", "UPDATE"),
        (f"EXPORT DATABASE '{tmp}/exported'", "EXPORT"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("USE memory", "SET"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("VACUUM", "VACUUM"),
        ("SELECT 1; SELECT 2", "one SQL statement per call"),
        (f"SELECT 1; COPY symbols TO '{r}/symbols.parquet'", "one SQL statement per call"),
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT * FROM read_text('/etc/passwd')", "file system operations are disabled"),
        ("SELECT * FROM glob('/root/*')", "file system operations are disabled"),
        (f"SELECT * FROM '{r}/symbols.parquet'", "file system operations are disabled"),
        (f"SELECT * FROM read_parquet('{r}/symbols.parquet')", "file system operations are disabled"),
        ("SELECT * FROM duckdb_secrets()", "file system operations are disabled"),
        ("   ", "empty SQL statement"),
        ("SELEC 1", "Parser Error"),
    ]


def test_every_escape_is_refused_in_one_line_and_the_recording_is_unchanged(cli, fresh_run, tmp_path):
    assert cli("sql", fresh_run, "SELECT count(*) AS n FROM events").exit_code == 0
    before = digest(fresh_run)
    for statement, fragment in escapes(fresh_run, tmp_path):
        line = refusal(cli("sql", fresh_run, statement))
        assert fragment in line, (statement, line)
    assert digest(fresh_run) == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "new.duckdb").exists()
    assert not (tmp_path / "exported").exists()
    # and the index still answers (nothing was dropped or detached for good)
    res = cli("sql", fresh_run, "SELECT count(*) AS n FROM events", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["n"] > 0


def test_reading_statements_still_work(cli, fresh_run):
    for statement in ("FROM symbols LIMIT 1", "SHOW TABLES", "DESCRIBE events",
                      "EXPLAIN SELECT * FROM accesses", "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
                      "VALUES (1), (2)", "SELECT count(*) FROM accesses a JOIN words w USING (addr)",
                      "SELECT 1;"):
        res = cli("sql", fresh_run, statement)
        assert res.exit_code == 0, (statement, res.output)


def test_the_python_api_is_locked_too(fresh_run):
    with queries.open_run(fresh_run) as run:
        assert is_locked(run.con)
        with pytest.raises(queries.QueryError, match="read-only"):
            run.sql(f"COPY symbols TO '{fresh_run}/symbols.parquet'")
        # even on the raw connection, the file system is gone and cannot be given back
        with pytest.raises(Exception, match="disabled"):
            run.con.execute(f"COPY symbols TO '{fresh_run}/x.csv'")
        with pytest.raises(Exception, match="locked"):
            run.con.execute("SET enable_external_access = true")
        # ... while the named queries (which register Arrow tables) keep working
        assert run.windows() is not None
        assert run.races() is not None


def test_a_runaway_query_is_interrupted_and_says_so(cli, fresh_run):
    t0 = time.monotonic()
    res = cli("sql", fresh_run, "SELECT count(*) FROM range(100000000000) a, range(1000) b "
                                "WHERE a.range + b.range = 7", "--timeout", "0.5")
    line = refusal(res)
    assert "longer than 0.5 s" in line and "interrupted" in line
    assert time.monotonic() - t0 < 30
    # the connection is not left interrupted: the next query on a run answers
    with queries.open_run(fresh_run) as run:
        with pytest.raises(queries.QueryError, match="interrupted"):
            run.sql("SELECT count(*) FROM range(100000000000) a, range(1000) b", timeout=0.2)
        assert run.sql("SELECT 41 + 1 AS n").to_pylist() == [{"n": 42}]


def test_a_long_statement_is_not_echoed_whole(cli, fresh_run):
    line = refusal(cli("sql", fresh_run, "CREATE TABLE t AS SELECT '" + "x" * 100_000 + "' AS a"))
    assert len(line) < 400
