-- event_cycle: the cycle of event $seq (looked up where it is cheap: the seq-ordered other events
-- and the ends of the schedule's runs; the first and last events of every run are there).
SELECT cycle FROM other_events WHERE seq = $seq
UNION ALL SELECT end_cycle FROM schedule WHERE end_seq = $seq
UNION ALL SELECT start_cycle FROM schedule WHERE start_seq = $seq
LIMIT 1;
