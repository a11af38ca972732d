"""A seq argument as users type it (`--to`, `--before`, `--at`): a number, `panic` or `end`.

One parser for the replay floor and the query floor, so both accept the same words and say the
same things about bad ones. Each caller says what `end` means for it: `replay --to end` is the
last event, `last-writer --before end` is one past it (every event counts).
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import TraceError


def parse_seq(value: int | str, *, what: str, events: int, end: int, panic: Callable[[], int | None],
              outcome: str | None, location: str | None = None,
              error: type[Exception] = TraceError) -> int:
    """The seq `value` names, checked against a run of `events` events (seqs 0..events-1).

    `end` is what the word `end` means and the largest seq accepted (events - 1 for an event,
    events for an exclusive bound); `panic()` gives the panic's seq or None. Bad input raises
    `error(message, location)` (TraceError, or the caller's floor's error type)."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "end":
            if end < 0:
                raise error(f"{what} end: the run has no events", location)
            return end
        if word == "panic":
            seq = panic()
            if seq is None:
                raise error(f"{what} panic: the run did not panic (outcome: {outcome or 'unknown'})", location)
            return seq
        try:
            value = int(word, 10) if word.lstrip("-").isdigit() else int(word, 0)
        except ValueError:
            raise error(f"{what} takes a seq (a number), 'panic' or 'end', not {value!r}", location) from None
    seq = int(value)
    if not 0 <= seq <= end:
        last = f"0..{events - 1}" if events else "none"
        raise error(f"{what} {seq} is out of range: this run's events are {last}", location)
    return seq
