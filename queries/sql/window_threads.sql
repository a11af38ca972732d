-- window_threads: who ran on which core during each window?
--
-- Input: a relation `spans(id, start_seq, end_seq)`. For every span, every (machine, core,
-- thread) that has events in it, with its first and last seq inside the span and how many of its
-- events fall inside (from `schedule`, the runs of consecutive events of one thread on one core).
SELECT s.id, r.machine, r.core, r.thread,
       greatest(min(r.start_seq), s.start_seq) AS first_seq,
       least(max(r.end_seq), s.end_seq) AS last_seq,
       sum(CASE WHEN r.start_seq >= s.start_seq AND r.end_seq <= s.end_seq THEN r.events
                ELSE least(r.end_seq, s.end_seq) - greatest(r.start_seq, s.start_seq) + 1 END
          )::BIGINT AS events
FROM spans s
JOIN schedule r ON r.start_seq <= s.end_seq AND r.end_seq >= s.start_seq
GROUP BY s.id, s.start_seq, s.end_seq, r.machine, r.core, r.thread
ORDER BY s.id, r.machine, r.core, first_seq;
