-- history: every write to the word at $addr, oldest first.
--
-- With $mask <> 0, only the writes that changed one of the bits in $mask (one bit for a TARGET
-- such as page0.flags:PG_dirty). `changed` is old XOR new; bit_changes has them by name.
-- (`revtrace history RUN TARGET`)
SELECT seq, cycle, issued, machine, core, thread, thread_id, function, file, line, site, symbol, addr,
       kind, atomic, old, new, xor(old, new) AS changed
FROM writes
WHERE addr = $addr AND ($mask = 0 OR (xor(old, new) & $mask::UBIGINT) <> 0)
ORDER BY seq;
