-- last_writer_bit: who last changed bit $bit of the word at $addr before event $before?
--
-- Like last_writer.sql, but only writes whose old and new values differ in that bit count: the
-- write that set or cleared PG_dirty, not the ones that rewrote the word around it.
-- (`revtrace last-writer RUN page0.flags:PG_dirty`)
SELECT seq, cycle, issued, machine, core, thread, thread_id, function, file, line, site, symbol, addr,
       kind, atomic, old, new
FROM writes
WHERE addr = $addr AND seq < $before AND ((xor(old, new) >> $bit) & 1) = 1
ORDER BY seq DESC
LIMIT 1;
