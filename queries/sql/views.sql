-- views: the names users query. Created once in RUN/index.duckdb by queries/index.py. The bulk
-- tables they build on are registered on every connection that queries.open_run (and so
-- `revtrace sql`) opens, as zero-copy Arrow tables over the column files in RUN/index/:
--
--   _accesses     every read, write and rmw, in (addr, seq) order (some columns stored narrower,
--                 some split in two as NAME_hi and NAME_lo, `old` and `issued` perhaps as old_rel
--                 and issued_rel, which the accesses view reads back: queries/columns.py)
--   _other_events every event that is not a memory access, in seq order
--   _vclocks      a thread's full vector clock whenever it changes, in (thread, of_thread, clock) order

-- other_events and vclocks with the recording's column types (stored narrower).
CREATE VIEW other_events AS
SELECT seq::BIGINT AS seq, cycle::BIGINT AS cycle, machine::SMALLINT AS machine, core::SMALLINT AS core,
       thread::INTEGER AS thread, site::INTEGER AS site, kind, addr::BIGINT AS addr, old::UBIGINT AS old,
       new::UBIGINT AS new, clock::BIGINT AS clock, sync::BIGINT AS sync, atomic, mode, issued::BIGINT AS issued
FROM _other_events;

CREATE VIEW vclocks AS
SELECT thread::INTEGER AS thread, clock::BIGINT AS clock, seq::BIGINT AS seq,
       of_thread::INTEGER AS of_thread, value::BIGINT AS value
FROM _vclocks;

-- accesses: every read, write and rmw, in (addr, seq) order, with the recording's column types.
CREATE VIEW accesses AS
SELECT addr, {seq}::BIGINT AS seq, {cycle}::BIGINT AS cycle, machine::SMALLINT AS machine,
       core::SMALLINT AS core, thread::INTEGER AS thread, site::INTEGER AS site, kind,
       {old} AS old, {new}::UBIGINT AS new,
       {clock}::BIGINT AS clock, atomic, mode, {issued} AS issued
FROM _accesses;

-- events: every event with raw ids, exactly the recording's columns (accesses UNION ALL
-- other_events). Rows come in no particular order: add ORDER BY seq.
CREATE VIEW events AS
SELECT seq, cycle, machine, core, thread, site, kind, addr, old, new, clock, -1::BIGINT AS sync, atomic, mode,
       issued
FROM accesses
UNION ALL
SELECT seq, cycle, machine, core, thread, site, kind, addr, old, new, clock, sync, atomic, mode, issued
FROM other_events;

-- events_named (alias ev): every event with names instead of numbers: machine and thread names,
-- the word's symbol (a C stack word: the local of the frame that held it, `t1:worker.s.a`), the
-- sync object's name (lock symbol, thread name or message id), and the site's function, file,
-- line, label and source text.
CREATE VIEW events_named AS
SELECT e.seq, e.cycle, m.name AS machine, e.machine AS machine_id, e.core,
       t.name AS thread, e.thread AS thread_id, e.kind, e.addr,
       CASE WHEN e.kind IN ('read', 'write', 'rmw') THEN coalesce(t.name || ':' || fs.name, sn.name, w.name)
       END AS symbol, e.old, e.new,
       e.clock, e.sync,
       CASE WHEN e.kind IN ('acquire', 'release') THEN lw.name
            WHEN e.kind IN ('spawn', 'wake', 'sleep') THEN st.name
            WHEN e.kind IN ('send', 'recv') THEN 'message ' || e.sync::VARCHAR
       END AS sync_name,
       e.atomic, e.mode, e.issued, e.site, s.function, s.file, s.line, s.label, s.text
FROM events e
LEFT JOIN machines m ON m.machine = e.machine
LEFT JOIN threads t ON t.thread = e.thread
LEFT JOIN words w ON w.addr = CASE WHEN e.kind IN ('read', 'write', 'rmw') THEN e.addr END
LEFT JOIN words lw ON lw.addr = CASE WHEN e.kind IN ('acquire', 'release') THEN e.sync END
LEFT JOIN threads st ON st.thread = CASE WHEN e.kind IN ('spawn', 'wake', 'sleep') THEN e.sync END
LEFT JOIN sites s ON s.site = e.site
LEFT JOIN frame_sites fs ON fs.site = e.site
LEFT JOIN stack_names sn ON sn.seq = e.seq;

CREATE VIEW ev AS SELECT * FROM events_named;

-- accesses_named: every read, write and rmw with names (fast when filtered by addr or symbol:
-- the underlying table is clustered by (addr, seq)). A C stack word's symbol is the local of the
-- frame that held it at that access (`flusher:nfs_page_async_flush.req`, queries/stack_names.py).
CREATE VIEW accesses_named AS
SELECT a.addr, coalesce(t.name || ':' || fs.name, sn.name, w.name) AS symbol, a.seq, a.cycle, m.name AS machine, a.machine AS machine_id,
       a.core, t.name AS thread, a.thread AS thread_id, a.kind, a.old, a.new, a.atomic, a.mode, a.clock,
       a.issued, a.site, s.function, s.file, s.line, s.label, s.text
FROM accesses a
LEFT JOIN words w ON w.addr = a.addr
LEFT JOIN machines m ON m.machine = a.machine
LEFT JOIN threads t ON t.thread = a.thread
LEFT JOIN sites s ON s.site = a.site
LEFT JOIN frame_sites fs ON fs.site = a.site
LEFT JOIN stack_names sn ON sn.seq = a.seq;

-- writes: the writes and read-modify-writes among accesses_named.
CREATE VIEW writes AS
SELECT * FROM accesses_named WHERE kind IN ('write', 'rmw');

-- bit_changes: one row per named bit that a write changed (old_bit -> new_bit). Bit names are
-- global (bits.parquet): when two names share a bit number, both rows appear.
CREATE VIEW bit_changes AS
SELECT wr.seq, wr.cycle, wr.addr, wr.symbol, b.name AS bit_name, b.bit,
       ((wr.old >> b.bit) & 1)::TINYINT AS old_bit, ((wr.new >> b.bit) & 1)::TINYINT AS new_bit,
       wr.machine, wr.core, wr.thread, wr.thread_id, wr.kind, wr.atomic, wr.site, wr.function,
       wr.file, wr.line
FROM writes wr
JOIN bits b ON b.bit BETWEEN 0 AND 63 AND ((xor(wr.old, wr.new) >> b.bit) & 1) = 1;

-- lock_ops: every acquire and release, with the lock word's name.
CREATE VIEW lock_ops AS
SELECT o.seq, o.cycle, o.kind, o.sync AS lock_addr, w.name AS lock, m.name AS machine, o.core,
       t.name AS thread, o.thread AS thread_id, o.clock, o.site, s.function, s.file, s.line
FROM other_events o
LEFT JOIN words w ON w.addr = o.sync
LEFT JOIN machines m ON m.machine = o.machine
LEFT JOIN threads t ON t.thread = o.thread
LEFT JOIN sites s ON s.site = o.site
WHERE o.kind IN ('acquire', 'release');

-- lock_holds: every lock acquisition (spin_lock, spin_trylock, test_and_set_bit_lock that took
-- it) and the release that ended it: the next release of the same lock word by anyone (NULL
-- while still held at the end). `released_by` differs from `thread_id` for an unlock by a
-- thread that does not hold the lock; `trylock` marks acquisitions by spin_trylock.
CREATE VIEW lock_holds AS
WITH acq AS (SELECT seq, thread, sync AS lock_addr, site, mode = 'trylock' AS trylock
             FROM other_events WHERE kind = 'acquire'),
     rel AS (SELECT seq, thread, sync AS lock_addr, site FROM other_events WHERE kind = 'release')
SELECT a.lock_addr, w.name AS lock, a.thread AS thread_id, t.name AS thread, a.seq AS acquired_seq,
       a.site AS acquired_site, a.trylock, r.seq AS released_seq, r.thread AS released_by,
       r.site AS released_site
FROM acq a
ASOF LEFT JOIN rel r ON r.lock_addr = a.lock_addr AND r.seq > a.seq
LEFT JOIN words w ON w.addr = a.lock_addr
LEFT JOIN threads t ON t.thread = a.thread;

-- lock_order: lockdep's dependencies, one row per acquisition of a lock (`taken`) while the same
-- thread held another (`held`): the edge held -> taken of the lock-order graph, with both
-- acquisitions (seq and site). A spin_trylock adds no edge to the lock it tries (it cannot wait).
-- A cycle in this graph is a possible deadlock even in a run that did not deadlock
-- (`revtrace locks RUN` lists them).
CREATE VIEW lock_order AS
SELECT h.lock_addr AS held_addr, h.lock AS held, b.lock_addr AS taken_addr, b.lock AS taken,
       b.thread_id, b.thread, h.acquired_seq AS held_seq, h.acquired_site AS held_site,
       b.acquired_seq AS taken_seq, b.acquired_site AS taken_site
FROM lock_holds h
JOIN lock_holds b ON b.thread_id = h.thread_id AND b.acquired_seq > h.acquired_seq
                 AND (h.released_seq IS NULL OR b.acquired_seq < h.released_seq)
                 AND b.lock_addr <> h.lock_addr AND NOT b.trylock;

-- messages: every send with its matching recv (NULL receiver when it was never received); the
-- port by name (its number when the run does not name it) and number.
CREATE VIEW messages AS
SELECT s.sync AS message, coalesce(p.name, s.addr::VARCHAR) AS port, s.addr AS port_id, s.seq AS send_seq, s.cycle AS send_cycle,
       st.name AS sender, r.seq AS recv_seq, r.cycle AS recv_cycle, rt.name AS receiver,
       s.new AS first_word
FROM other_events s
LEFT JOIN other_events r ON r.kind = 'recv' AND r.sync = s.sync
LEFT JOIN threads st ON st.thread = s.thread
LEFT JOIN threads rt ON rt.thread = r.thread
LEFT JOIN ports p ON p.port = s.addr
WHERE s.kind = 'send';

-- sync_edges: every happens-before edge that synchronisation adds to program order (the edges the
-- race report uses; the recorder folds them into the vector clocks, tracer/happens_before.py), as
-- `via`, from_seq / from_thread -> to_seq / to_thread, and `addr`, the word (NULL for messages,
-- spawns and wake-ups):
--   lock        a release of a lock word -> the next acquire of it
--   message     a send -> its recv
--   spawn       a spawn -> the child's first event
--   wake        a wake -> the woken thread's next sleep return
--   reads-from  a release store, or a value-returning or release RMW that changed the word (the
--               heads of the release sequence that the read reads: back from the write it reads
--               through RMWs to the first plain, marked or release store) -> an acquire load, or
--               an acquire or value-returning RMW, that reads it; read by a marked load or a
--               non-value-returning RMW, -> that thread's next rmb or mb instead
--   fence       the writer's latest wmb or mb before a marked store, or before a
--               non-value-returning RMW that changed the word, in that sequence -> the same readers
-- Edges within one thread (program order already) are left out, and so are heads older than the
-- sequence's latest value-returning RMW (it acquired them: the edge through it says as much).
-- A marked or acquire load that read its own buffered store (old = 1) synchronises with nobody.
CREATE VIEW sync_edges AS
WITH rel AS (SELECT * FROM other_events WHERE kind = 'release'),
     acq AS (SELECT * FROM other_events WHERE kind = 'acquire'),
     spw AS (SELECT * FROM other_events WHERE kind = 'spawn'),
     wak AS (SELECT * FROM other_events WHERE kind = 'wake'),
     slp AS (SELECT * FROM other_events WHERE kind = 'sleep'),
     wfence AS (SELECT seq, thread FROM other_events WHERE kind = 'fence' AND mode IN ('mb', 'wmb')),
     rfence AS (SELECT seq, thread FROM other_events WHERE kind = 'fence' AND mode IN ('mb', 'rmb')),
     w AS (  -- every write, with where its release sequence starts and its latest fully ordered RMW
         SELECT addr, seq, thread, kind, mode, old <> new AS changed,
                coalesce(max(CASE WHEN kind = 'write' THEN seq END)
                         OVER (PARTITION BY addr ORDER BY seq ROWS UNBOUNDED PRECEDING), -1) AS chain_start,
                coalesce(max(CASE WHEN kind = 'rmw' AND mode = 'atomic' AND old <> new THEN seq END)
                         OVER (PARTITION BY addr ORDER BY seq ROWS UNBOUNDED PRECEDING), -1) AS last_full
         FROM accesses WHERE kind IN ('write', 'rmw')
     ),
     hd AS (  -- the writes that publish: themselves, or their writer's latest wmb / mb
         SELECT x.addr, x.seq, x.thread,
                CASE WHEN x.kind = 'write' AND x.mode = 'release' OR x.kind = 'rmw' AND x.mode IN ('atomic', 'release')
                     THEN x.seq ELSE f.seq END AS from_seq,
                CASE WHEN x.kind = 'write' AND x.mode = 'release' OR x.kind = 'rmw' AND x.mode IN ('atomic', 'release')
                     THEN 'reads-from' ELSE 'fence' END AS via
         FROM w x ASOF LEFT JOIN wfence f ON f.thread = x.thread AND f.seq < x.seq
         WHERE (x.kind = 'write' AND x.mode = 'release')
            OR (x.kind = 'rmw' AND x.changed AND x.mode IN ('atomic', 'release'))
            OR (f.seq IS NOT NULL AND ((x.kind = 'write' AND x.mode = 'marked')
                                       OR (x.kind = 'rmw' AND x.changed AND x.mode IN ('atomic_noret', 'plain'))))
     ),
     rd AS (  -- the reads that synchronise, with the write each reads (the latest before it)
         SELECT r.seq, r.thread, r.addr,
                (r.kind = 'read' AND r.mode = 'acquire') OR (r.kind = 'rmw' AND r.mode IN ('atomic', 'acquire')) AS acquires,
                x.seq AS wseq, greatest(x.chain_start, x.last_full) AS lower
         FROM accesses r ASOF JOIN w x ON x.addr = r.addr AND x.seq < r.seq
         WHERE (r.kind = 'read' AND r.mode <> 'plain' AND r.old <> 1) OR (r.kind = 'rmw' AND r.mode <> 'release')
     ),
     hit AS (
         SELECT h.via, h.from_seq, h.thread AS from_thread, rd.seq, rd.thread, rd.addr, rd.acquires
         FROM rd JOIN hd h ON h.addr = rd.addr AND h.seq BETWEEN rd.lower AND rd.wseq
     ),
     pend AS (  -- read by a marked load or a non-value-returning RMW: the reader's next rmb / mb
         SELECT hit.via, hit.from_seq, hit.from_thread, f.seq AS to_seq, hit.thread AS to_thread, hit.addr
         FROM hit ASOF JOIN rfence f ON f.thread = hit.thread AND f.seq > hit.seq
         WHERE NOT hit.acquires
     )
SELECT 'lock' AS via, rel.seq AS from_seq, rel.thread AS from_thread, acq.seq AS to_seq,
       acq.thread AS to_thread, rel.sync AS addr
FROM rel ASOF JOIN acq ON acq.sync = rel.sync AND acq.seq > rel.seq
UNION ALL
SELECT 'message', s.seq, s.thread, r.seq, r.thread, NULL
FROM other_events s JOIN other_events r ON r.sync = s.sync AND r.kind = 'recv'
WHERE s.kind = 'send'
UNION ALL
SELECT 'spawn', spw.seq, spw.thread, f.start_seq, f.thread_id, NULL
FROM spw ASOF JOIN schedule f ON f.thread_id = spw.sync AND f.start_seq > spw.seq
UNION ALL
SELECT 'wake', wak.seq, wak.thread, slp.seq, slp.thread, NULL
FROM wak ASOF JOIN slp ON slp.thread = wak.sync AND slp.seq > wak.seq
UNION ALL
SELECT DISTINCT via, from_seq, from_thread, to_seq, to_thread, addr
FROM (SELECT via, from_seq, from_thread, seq AS to_seq, thread AS to_thread, addr FROM hit WHERE acquires
      UNION ALL
      SELECT * FROM pend)
WHERE from_thread <> to_thread;
