-- parquet_tables: one Parquet export's tables under the names and column types that a run's SQL
-- uses (queries/exported.py creates them, then the named views of views.sql on top of them, so
-- that a query written against a run answers the same over its export). {events}, {symbols}, ...
-- stand for the lists of the export's files of each table; {machine_id} for the expression that
-- turns the `machine` partition (the machine's name) back into the recording's machine id.

CREATE VIEW events AS
SELECT seq::BIGINT AS seq, cycle::BIGINT AS cycle, ({machine_id})::SMALLINT AS machine, core::SMALLINT AS core,
       thread::INTEGER AS thread, site::INTEGER AS site, kind::VARCHAR AS kind, addr::BIGINT AS addr,
       old::UBIGINT AS old, new::UBIGINT AS new, clock::BIGINT AS clock, sync::BIGINT AS sync, atomic,
       mode::VARCHAR AS mode, issued::BIGINT AS issued
FROM read_parquet({events}, hive_partitioning = true, hive_types = {'machine': VARCHAR}, union_by_name = true);

-- the non-access events (a run keeps them apart from the accesses, and so does this view)
CREATE VIEW other_events AS
SELECT * FROM events WHERE kind NOT IN ('read', 'write', 'rmw');

-- the reads, writes and rmws (the export's accesses/ folder holds the same rows for other tools)
CREATE VIEW accesses AS
SELECT addr, seq, cycle, machine, core, thread, site, kind, old, new, clock, atomic, mode, issued
FROM events WHERE kind IN ('read', 'write', 'rmw');

CREATE VIEW vclocks AS
SELECT thread::INTEGER AS thread, clock::BIGINT AS clock, seq::BIGINT AS seq, of_thread::INTEGER AS of_thread,
       value::BIGINT AS value
FROM read_parquet({vclocks});

CREATE VIEW symbols AS SELECT * FROM read_parquet({symbols});
CREATE VIEW words AS SELECT * FROM read_parquet({words});
CREATE VIEW bits AS SELECT * FROM read_parquet({bits});
CREATE VIEW sites AS SELECT * FROM read_parquet({sites});
CREATE VIEW threads AS SELECT * FROM read_parquet({threads});
CREATE VIEW machines AS SELECT * FROM read_parquet({machines});
CREATE VIEW ports AS SELECT * FROM read_parquet({ports});
CREATE VIEW schedule AS SELECT * FROM read_parquet({schedule});
CREATE VIEW checkpoints AS SELECT * FROM read_parquet({checkpoints});
CREATE VIEW meta AS SELECT key, value::JSON AS value FROM read_parquet({meta});
CREATE VIEW stacks AS SELECT * FROM read_parquet({stacks});
CREATE VIEW frame_words AS SELECT * FROM read_parquet({frame_words});
CREATE VIEW frame_sites AS SELECT * FROM read_parquet({frame_sites});
CREATE VIEW frames AS SELECT * FROM read_parquet({frames});
CREATE VIEW stack_names AS SELECT * FROM read_parquet({stack_names});
