"""The intact prefix of a recording: what the index is built from, and what is said about the rest.

A recording is evidence, so a query never answers from data that is damaged or that comes after
damage or a gap. The index build (queries/index.py) reads the event parts in order and stops at
the first of:

- a missing part (part-00001 absent while part-00002 exists: the events in between are lost);
- a part that is truncated, unreadable, or holds a batch that fails its checksum (the batches
  before it in that part are kept: tracer/trace_stream.py verifies each one);
- a batch whose seq does not continue the previous one (a gap, or events out of order);
- a batch whose vector clocks are not all readable: every events batch says how many vclocks
  rows exist once its own clock changes are written (tracer.schema.VCLOCK_ROWS_KEY), and the
  vclocks stream is read first, up to its own first damage or missing part.

Everything it did not use, and every disagreement with meta.json's counts, becomes a warning
stored in the index and printed by every query that reads it (`--strict` turns them into errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from tracer import schema as S
from tracer.run_dir import meta_problems

from .rundir import RunDir, StreamRead, read_stream


def part_number(path: Path) -> int | None:
    """NNNNN of part-NNNNN.arrows (None for a name of another shape)."""
    stem = path.name.removeprefix("part-").removesuffix(".arrows")
    return int(stem) if stem.isdigit() else None


@dataclass
class VclockRead:
    reads: list[StreamRead] = field(default_factory=list)  # the parts used, in order
    rows: int = 0  # intact rows, in order from the first
    complete: bool = True  # no damage, no missing part
    notes: list[str] = field(default_factory=list)

    @property
    def limit(self) -> float:
        """Events batches that need more vclocks rows than this are beyond the intact prefix."""
        return float("inf") if self.complete else self.rows


def read_vclocks(rd: RunDir) -> VclockRead:
    out = VclockRead()
    parts = rd.vclock_parts()
    if not parts:
        out.notes.append("no vclocks/ parts: happens-before knows program order only")
        return out
    for i, path in enumerate(parts):
        rel = f"{path.parent.name}/{path.name}"
        if part_number(path) != i:
            out.complete = False
            out.notes.append(f"vclocks/{S.PART_PATTERN.format(i)} is missing; the vector clocks "
                             f"after row {out.rows:,} are lost")
            break
        read = read_stream(path)
        out.reads.append(read)
        out.rows += read.rows
        if read.problem:
            out.complete = False
            out.notes.append(f"{rel}: {read.problem}; kept the {read.rows:,} complete rows")
            break
    return out


class Prefix:
    """Decides, part by part and batch by batch, where the intact prefix of the events ends."""

    def __init__(self, parts: list[Path], vclocks: VclockRead):
        self.parts = parts
        self.vclock_limit = vclocks.limit
        self.expected_seq = 0
        self.ended: str | None = None  # why the prefix ended (None: it did not)
        self.notes: list[str] = []

    def no_parts(self) -> None:
        """events/ holds no part at all (so not even the first: every event is lost)."""
        self._end(f"events/{S.PART_PATTERN.format(0)} is missing (events/ holds no part)", 0)

    def part_ok(self, i: int) -> bool:
        """May part i (of self.parts) be read? (No once the prefix has ended or a part is missing.)"""
        if self.ended is not None:
            return False
        if part_number(self.parts[i]) != i:
            self._end(f"events/{S.PART_PATTERN.format(i)} is missing", i)
            return False
        return True

    def part_problem(self, i: int, read: StreamRead) -> None:
        """Part i ended early (its intact batches have been offered): nothing after it is used."""
        rel = f"events/{self.parts[i].name}"
        self.notes.append(f"{rel}: {read.problem}; kept the {read.rows:,} complete rows")
        self._end(None, i + 1)

    def batch_ok(self, i: int, seq: np.ndarray, meta: dict) -> bool:
        """May this batch of part i be used? (It continues the seq and its clocks are readable.)"""
        if self.ended is not None:
            return False
        rel = f"events/{self.parts[i].name}"
        n = len(seq)
        if seq[0] != self.expected_seq or (n > 1 and (seq[-1] - seq[0] != n - 1
                                                      or not np.all(seq[1:] > seq[:-1]))):
            self._end(f"{rel}: seq is not dense from 0 (expected {self.expected_seq:,}, "
                      f"found {int(seq[0]):,})", i + 1)
            return False
        need = meta.get(S.VCLOCK_ROWS_KEY)
        if need is not None and need.isdigit() and int(need) > self.vclock_limit:
            self._end(f"{rel}: the vector clocks of events from seq {int(seq[0]):,} on are "
                      "damaged or missing", i + 1)
            return False
        self.expected_seq = int(seq[-1]) + 1
        return True

    def _end(self, why: str | None, unused_from: int) -> None:
        if why:
            self.notes.append(why)
        self.ended = why or "damaged part"
        later = [p.name for p in self.parts[unused_from:]]
        if later:
            self.notes.append(f"not used (after the damage): events/{later[0]}"
                              + (f" and {len(later) - 1} more part(s)" if len(later) > 1 else ""))


def meta_notes(meta: dict, events: int, cut: bool) -> list[str]:
    """What meta.json says against what is readable: counts, the truncated flag, and (when the
    prefix ended early) the one-line summary of what is answered from."""
    notes = [p for p in meta_problems(meta) if not p.startswith("meta.json: events ")]
    recorded = meta.get("events")
    if recorded is not None and (type(recorded) is not int or recorded < 0):
        notes.append(f"meta.json: events is {_show(recorded)}, not a count")
        recorded = None
    if meta.get("truncated") is True:
        notes.append("the recording did not finish (meta.json: truncated)")
    if recorded is not None and recorded != events:
        notes.append(f"meta.json says {recorded:,} events, {events:,} are readable")
    if cut or (recorded is not None and recorded != events):
        span = f"events 0..{events - 1:,}" if events else "no events"
        notes.append(f"answering from the intact prefix only ({span})")
    return notes


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def concat_vclocks(vread: VclockRead, location: str) -> pa.Table:
    from .rundir import conform
    tables = [conform(pa.Table.from_batches(r.batches), S.VCLOCKS, f"{location}/vclocks/{r.path.name}")
              for r in vread.reads if r.batches]
    return pa.concat_tables(tables) if tables else S.VCLOCKS.empty_table()
