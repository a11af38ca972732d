-- last_writer_changed: who last changed the value of the word at $addr before event $before?
--
-- Like last_writer.sql, but writes that stored the value the word already had (a failed cas, a
-- set_bit of a set bit) do not count. (`revtrace last-writer RUN TARGET --changed`)
SELECT seq, cycle, issued, machine, core, thread, thread_id, function, file, line, site, symbol, addr,
       kind, atomic, old, new
FROM writes
WHERE addr = $addr AND seq < $before AND old <> new
ORDER BY seq DESC
LIMIT 1;
