-- last_writer_local: who last wrote the C local $name (`flusher:nfs_page_async_flush.req`) before
-- event $before?
--
-- A stack word's name depends on the frame that holds it when it is accessed (a recursive
-- function's local is a different word at every depth; one word is several locals over time), so
-- this is the last write, at any of the words $addrs that ever bore the name, that was named
-- $name when it was made (accesses_named.symbol; queries/stack_names.py). $mask <> 0: only writes
-- that changed a bit of $mask. (`revtrace last-writer RUN flusher:nfs_page_async_flush.req`)
SELECT seq, cycle, issued, machine, core, thread, thread_id, function, file, line, site, symbol, addr,
       kind, atomic, old, new
FROM writes
WHERE list_contains($addrs, addr) AND symbol = $name AND seq < $before
  AND ($mask = 0 OR (xor(old, new) & $mask::UBIGINT) <> 0)
ORDER BY seq DESC
LIMIT 1;
