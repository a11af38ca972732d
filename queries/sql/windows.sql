-- windows: during which intervals did the invariant not hold?
--
-- Input: a relation `truth(seq, holds)`: the invariant's value after each write to one of its
-- words (seq = -1 for the initial state), which queries/windows.py registers after evaluating the
-- expression (invariants.py) over the writes of those words. Output: one row per maximal interval
-- during which it did not hold: start_seq is the write that made it false (-1: false from the
-- start), end_seq the write that made it true again (NULL: still false when the run ended).
-- (`revtrace windows RUN [--invariant NAME]`)
WITH steps AS (
    SELECT seq, holds, lag(holds, 1, true) OVER (ORDER BY seq) AS held_before
    FROM truth
),
flips AS (
    SELECT seq, holds, lead(seq) OVER (ORDER BY seq) AS next_flip
    FROM steps
    WHERE holds <> held_before
)
SELECT seq AS start_seq, next_flip AS end_seq
FROM flips
WHERE NOT holds
ORDER BY seq;
