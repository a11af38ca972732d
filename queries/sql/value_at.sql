-- value_at: what did the word at $addr hold when event $at ran?
--
-- The new value of the last write with seq < $at (what event $at itself saw), or the word's
-- initial value when nothing wrote it before (0 for a word no symbol names).
-- (`revtrace value RUN TARGET --at SEQ`)
WITH last AS (
    SELECT seq, new
    FROM accesses
    WHERE addr = $addr AND seq < $at AND kind IN ('write', 'rmw')
    ORDER BY seq DESC
    LIMIT 1
)
SELECT coalesce((SELECT new FROM last),
                (SELECT initial FROM words WHERE addr = $addr),
                0::UBIGINT) AS value,
       (SELECT seq FROM last) AS written_at;
