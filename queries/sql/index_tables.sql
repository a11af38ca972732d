-- index_tables: the tables stored inside RUN/index.duckdb (created empty, then filled by
-- queries/index.py). The bulk tables (accesses, other_events, vclocks) are column files in
-- RUN/index/ that every connection registers, see views.sql.

CREATE TABLE symbols (addr BIGINT, name VARCHAR, object VARCHAR, field VARCHAR, size INTEGER,
                      machine VARCHAR, initial UBIGINT);
CREATE TABLE bits (name VARCHAR, bit INTEGER);
CREATE TABLE sites (site INTEGER, machine VARCHAR, pc INTEGER, file VARCHAR, line INTEGER,
                    col INTEGER, function VARCHAR, label VARCHAR, text VARCHAR);
CREATE TABLE threads (thread INTEGER, name VARCHAR, machine VARCHAR, kind VARCHAR, entry VARCHAR);
CREATE TABLE machines (machine SMALLINT, name VARCHAR, cores INTEGER);
-- Message ports by id (a send's or recv's addr), as the scenario's [ports] names them.
CREATE TABLE ports (port BIGINT, name VARCHAR);
-- One row per word address that a symbol covers, with one canonical name.
CREATE TABLE words (addr BIGINT, name VARCHAR, object VARCHAR, field VARCHAR, machine VARCHAR,
                    initial UBIGINT);
-- Who ran where: maximal runs of consecutive events by one thread on one core.
CREATE TABLE schedule (machine VARCHAR, machine_id SMALLINT, core SMALLINT, thread VARCHAR,
                       thread_id INTEGER, start_seq BIGINT, end_seq BIGINT, start_cycle BIGINT,
                       end_cycle BIGINT, events BIGINT);
CREATE TABLE checkpoints (seq BIGINT, cycle BIGINT, instructions BIGINT, file VARCHAR);
-- Where each word's rows are in `accesses` (0-based row numbers; the rows are in (addr, seq) order).
CREATE TABLE word_offsets (addr BIGINT, start BIGINT, count BIGINT);
CREATE TABLE meta (key VARCHAR, value JSON);
CREATE TABLE index_info (key VARCHAR, value VARCHAR);
-- C stack frames (queries/stack_names.py): each thread's stack region; the words of every C
-- function's frame; the sites that access their own frame directly (named by the site); every
-- frame entered and left (cycle, base); the names of accesses through pointers into a live frame.
CREATE TABLE stacks (thread INTEGER, name VARCHAR, lo BIGINT, hi BIGINT);
CREATE TABLE frame_words (machine VARCHAR, function VARCHAR, lo_pc INTEGER, hi_pc INTEGER, size INTEGER,
                          off INTEGER, name VARCHAR);
CREATE TABLE frame_sites (site INTEGER, off INTEGER, name VARCHAR);
CREATE TABLE frames (cycle BIGINT, base BIGINT, site INTEGER, entered BOOLEAN);
CREATE TABLE stack_names (seq BIGINT, name VARCHAR);
