"""Rendering for people (rich tables) and scripts (--json), and the one-line error exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.text import Text


class _LazyConsole:
    """A rich Console made on first use: a command that prints JSON, or fails on bad input before
    printing, never imports rich's rendering (start-up time, bench/bench_startup.py)."""

    def __init__(self, **options: Any):
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    def _get(self):
        c = object.__getattribute__(self, "_console")
        if c is None:
            from rich.console import Console

            c = Console(**object.__getattribute__(self, "_options"))
            object.__setattr__(self, "_console", c)
        return c

    @property
    def rich(self):
        """The rich Console itself, for rich's own objects (a Progress, a Live) to drive."""
        return self._get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __enter__(self):
        return self._get().__enter__()

    def __exit__(self, *exc) -> None:
        self._get().__exit__(*exc)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)


console = _LazyConsole(highlight=False)
err_console = _LazyConsole(stderr=True, highlight=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def literal(value: Any) -> Text:
    """User text exactly as it is: `st [counter], r2` and `spin_lock [thisLock]` are instructions,
    not rich markup. Every table's title, header and cell goes through here."""
    from rich.text import Text

    return Text("" if value is None else str(value))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=None if title is None else literal(title), title_justify="left", show_lines=False)
    for name in columns:
        table.add_column(literal(name))
    for row in rows:
        table.add_row(*(literal(cell) for cell in row))
    console.print(table)


MESSAGE_LIMIT = 600  # characters of an error line: a message may quote (part of) the user's input


def one_line(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message as one line of at most `limit` characters (an input of a megabyte is not echoed)."""
    flat = " ".join(str(message).split())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}… ({len(flat) - limit:,} more characters)"


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2 for bad input). Never a traceback."""
    err_console.print(f"revtrace: error: {one_line(message)}", markup=False, soft_wrap=True)
    raise SystemExit(code)


def print_fields(title: str | None, rows: Sequence[tuple[Any, Any]]) -> None:
    """A two-column table of field names and values (one record), without a header row."""
    from rich.table import Table

    table = Table(title=None if title is None else literal(title), title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(literal(name), literal(value))
    console.print(table)
