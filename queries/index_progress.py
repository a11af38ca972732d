"""The index build's progress bar (rich, on stderr), shown for big runs."""

from __future__ import annotations

import sys

PROGRESS_MIN_EVENTS = 2_000_000  # show a progress bar from this size when stderr is a terminal
PROGRESS_ALWAYS_EVENTS = 20_000_000  # ... and from this size even when it is not


class Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, show: bool):
        self.bar = None
        self.task = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self.bar = Progress(TextColumn("indexing {task.description:<22}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=False)
            self.bar.start()

    def stage(self, description: str, total: int) -> None:
        if self.bar is not None:
            self._finish()
            self.task = self.bar.add_task(description, total=max(total, 1))

    def advance(self, n: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, n)

    def _finish(self) -> None:
        if self.task is not None:
            task = next(t for t in self.bar.tasks if t.id == self.task)
            self.bar.update(self.task, completed=task.total)

    def close(self) -> None:
        if self.bar is not None:
            self._finish()
            self.bar.stop()
            self.bar = None


def want_progress(progress: bool | None, events_guess: int) -> bool:
    if progress is not None:
        return progress
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return events_guess >= PROGRESS_ALWAYS_EVENTS or (tty and events_guess >= PROGRESS_MIN_EVENTS)
