-- races_all_pairs: races.sql, but B's partners on thread T are T's latest conflicting access
-- before B *at each of T's sites*, so that every distinct racing site pair is reported (races.sql
-- checks only T's latest conflicting access, which can hide an earlier one at another site that
-- also races). `revtrace races --all-pairs RUN`. What follows is races.sql's header.
--
-- races: which conflicting accesses does happens-before leave unordered?
--
-- Two accesses conflict when they touch the same word from different threads, at least one of
-- them writes, and they are not both marked or atomic (KCSAN's rule: `mode` <> 'plain', i.e.
-- READ_ONCE / WRITE_ONCE, acquire, release or an atomic RMW). A write here is a `write` or `rmw` that changed the
-- word (old <> new): one that stored the value the word already had (a failed
-- test_and_set_bit_lock or spin_lock attempt, a failed cas) is a read for conflict purposes, as
-- ThreadSanitizer treats a failed compare-and-swap as a load. (It is still a write for
-- last-writer and history.)
--
-- For every access B and every other thread T, B's partner on T is T's latest access before B
-- that conflicts with B; the pair races when the partner does not happen before B (the recorder's
-- vector clocks, with the kernel's rules: locks, messages, spawn, wake, release / fully ordered
-- RMW read by acquire, fence-based message passing; tracer/happens_before.py):
--
--     partner.clock > VC(B)[T]     VC(B) = the vclocks row of B's thread with the greatest
--                                  clock <= B.clock, entry of_thread = T (0 when there is none)
--
-- The latest conflicting access is the only one worth checking: if it happens before B, so does
-- every earlier access of T (program order), which is FastTrack's argument. The races are grouped
-- by their two sites (in either order), like a ThreadSanitizer report, with the number of pairs,
-- the number of distinct words, and the latest pair (greatest second seq, then first seq) as the
-- example: in a recording read after the fact, the occurrence nearest the end (or the panic) is
-- the one to look at first. `revtrace races RUN` computes exactly these pairs with numpy
-- (queries/races.py), which is much faster on large runs; this file is the definition.
WITH acc AS (
    SELECT addr, seq, thread, clock, site, core, machine, kind,
           kind IN ('write', 'rmw') AND old <> new AS is_write, mode <> 'plain' AS atomic, mode
    FROM accesses
    -- C stack words are thread-private: recorded, never reported (queries/stack_names.py)
    WHERE NOT EXISTS (SELECT 1 FROM stacks st WHERE addr >= st.lo AND addr < st.hi)
),
shared AS (  -- the words that can race at all
    SELECT addr
    FROM acc
    GROUP BY addr
    HAVING count(DISTINCT thread) > 1 AND bool_or(is_write) AND NOT bool_and(atomic)
),
a AS (SELECT * FROM acc WHERE addr IN (SELECT addr FROM shared)),
-- the partner classes an access belongs to: 0 any access (partners of a plain write), 1 writes
-- (of a plain read), 2 plain accesses (of an atomic write), 3 plain writes (of an atomic read)
partner AS (
    SELECT a.*, c.cls
    FROM a JOIN (VALUES (0), (1), (2), (3)) AS c(cls)
      ON c.cls = 0 OR (c.cls = 1 AND a.is_write) OR (c.cls = 2 AND NOT a.atomic)
         OR (c.cls = 3 AND a.is_write AND NOT a.atomic)
),
others AS (SELECT DISTINCT addr, thread AS other, site AS other_site FROM a),
second AS (  -- every access, once per other thread and site that touch the word
    SELECT a.*, o.other, o.other_site,
           CASE WHEN a.is_write AND NOT a.atomic THEN 0
                WHEN NOT a.atomic THEN 1
                WHEN a.is_write THEN 2
                ELSE 3 END AS need
    FROM a JOIN others o ON o.addr = a.addr AND o.other <> a.thread
),
pairs AS (
    SELECT s.*, p.seq AS p_seq, p.thread AS p_thread, p.clock AS p_clock, p.site AS p_site,
           p.core AS p_core, p.machine AS p_machine, p.kind AS p_kind, p.mode AS p_mode
    FROM second s ASOF JOIN partner p
      ON p.addr = s.addr AND p.thread = s.other AND p.site = s.other_site AND p.cls = s.need
         AND s.seq > p.seq
),
racing AS (
    SELECT pairs.*
    FROM pairs ASOF LEFT JOIN vclocks v
      ON v.thread = pairs.thread AND v.of_thread = pairs.other AND pairs.clock >= v.clock
    WHERE pairs.p_clock > coalesce(v.value, 0)
),
grouped AS (
    SELECT least(p_site, site) AS site_a, greatest(p_site, site) AS site_b,
           count(*) AS count, count(DISTINCT addr) AS addresses, list(DISTINCT addr ORDER BY addr) AS addrs,
           arg_max(struct_pack(addr, p_seq, p_thread, p_core, p_machine, p_kind, p_mode, p_site,
                               seq, thread, core, machine, kind, mode, site),
                   struct_pack(s := seq, p := p_seq)) AS ex
    FROM racing
    GROUP BY ALL
)
SELECT g.count, g.addresses, g.addrs, g.ex.addr AS addr, w.name AS symbol,
       g.ex.p_seq AS first_seq, t1.name AS first_thread, g.ex.p_thread AS first_thread_id,
       g.ex.p_core AS first_core, m1.name AS first_machine, g.ex.p_kind AS first_kind,
       g.ex.p_mode AS first_mode,
       s1.function AS first_function, s1.file AS first_file, s1.line AS first_line,
       g.ex.p_site AS first_site,
       g.ex.seq AS second_seq, t2.name AS second_thread, g.ex.thread AS second_thread_id,
       g.ex.core AS second_core, m2.name AS second_machine, g.ex.kind AS second_kind,
       g.ex.mode AS second_mode,
       s2.function AS second_function, s2.file AS second_file, s2.line AS second_line,
       g.ex.site AS second_site
FROM grouped g
LEFT JOIN words w ON w.addr = g.ex.addr
LEFT JOIN threads t1 ON t1.thread = g.ex.p_thread
LEFT JOIN threads t2 ON t2.thread = g.ex.thread
LEFT JOIN machines m1 ON m1.machine = g.ex.p_machine
LEFT JOIN machines m2 ON m2.machine = g.ex.machine
LEFT JOIN sites s1 ON s1.site = g.ex.p_site
LEFT JOIN sites s2 ON s2.site = g.ex.site
ORDER BY second_seq, first_seq;
