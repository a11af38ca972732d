-- lockset: which plain accesses to a lock-protected word happened without holding its lock?
--
-- $field_addrs and $lock_addrs are parallel lists (queries/hb.py resolves the scenario's
-- [[locksets]] `fields` glob and `lock` symbol to them): word $field_addrs[i] must only be
-- accessed while holding the lock word $lock_addrs[i]. A thread holds a lock from its acquire
-- (sync = the lock word's address) to its next release, in seq order. Atomic accesses never
-- count (they are how locks and flags are taken). Each row is one violation.
WITH guarded AS (
    SELECT unnest($field_addrs) AS addr, unnest($lock_addrs) AS lock_addr
),
acc AS (
    SELECT a.addr, a.seq, a.cycle, a.machine, a.core, a.thread, a.site, a.kind, g.lock_addr
    FROM accesses a JOIN guarded g ON g.addr = a.addr
    WHERE NOT a.atomic
),
lock_events AS (
    SELECT thread, sync AS lock_addr, seq, kind
    FROM other_events
    WHERE kind IN ('acquire', 'release')
),
checked AS (
    SELECT acc.*, o.kind AS last_lock_event
    FROM acc ASOF LEFT JOIN lock_events o
      ON o.thread = acc.thread AND o.lock_addr = acc.lock_addr AND acc.seq > o.seq
)
SELECT addr, seq, cycle, machine, core, thread, site, kind, lock_addr
FROM checked
WHERE last_lock_event IS DISTINCT FROM 'acquire'
ORDER BY seq;
