-- hb_orderings: which events at the "after" sites did not happen after any event at the "before"
-- sites?
--
-- An ordering "A happens before B" (scenario TOML [[orderings]], selectors resolved to site ids
-- $before_sites and $after_sites by queries/hb.py) holds for an event b at a B site when some
-- event a at an A site happens before it: a on the same thread and earlier, or a on thread T with
-- a.clock <= VC(b)[T]. It is enough to look at T's first A event (the smallest clock). The rows
-- are the B events for which no such a exists: the violations. (`revtrace hb RUN`)
WITH before AS (
    SELECT thread, min(seq) AS first_seq, min(clock) AS first_clock
    FROM events
    WHERE site IN (SELECT unnest($before_sites))
    GROUP BY thread
),
after AS (
    SELECT seq, cycle, machine, core, thread, site, kind, clock
    FROM events
    WHERE site IN (SELECT unnest($after_sites))
),
same_thread AS (
    SELECT a.seq
    FROM after a JOIN before b ON b.thread = a.thread AND b.first_seq < a.seq
),
other_thread AS (
    SELECT c.seq
    FROM (SELECT a.seq, a.thread, a.clock, b.thread AS b_thread, b.first_clock
          FROM after a JOIN before b ON b.thread <> a.thread) c
    ASOF LEFT JOIN vclocks v
      ON v.thread = c.thread AND v.of_thread = c.b_thread AND c.clock >= v.clock
    WHERE c.first_clock <= coalesce(v.value, 0)
)
SELECT a.seq, a.cycle, a.machine, a.core, a.thread, a.site, a.kind
FROM after a
WHERE a.seq NOT IN (SELECT seq FROM same_thread UNION ALL SELECT seq FROM other_thread)
ORDER BY a.seq;
