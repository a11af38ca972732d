-- last_writer: who last wrote the word at $addr before event $before?
--
-- The last write or read-modify-write of the word with seq < $before: when (seq, cycle), where it
-- ran (machine, core, thread), what ran (function, file, line) and what it did (old -> new).
-- No row when nothing wrote the word before $before. Pass $before = the run's event count for
-- "by the end of the run". (`revtrace last-writer RUN TARGET [--before SEQ|panic]`)
SELECT seq, cycle, issued, machine, core, thread, thread_id, function, file, line, site, symbol, addr,
       kind, atomic, old, new
FROM writes
WHERE addr = $addr AND seq < $before
ORDER BY seq DESC
LIMIT 1;
