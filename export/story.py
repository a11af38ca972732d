"""What a picture of a run shows, read once from the recording and its index: who ran where
(time slices), which function each thread was in (call stretches), the writes to watched words
with their bit changes, counters, messages, race pairs, invariant windows and the panic.

The Perfetto exporter and the timeline picture both draw a Story. The streams that grow with the
run (slices, calls, writes, messages) are produced batch by batch from the recording's Arrow parts
(`Story.scan`), so a 10M-event run never sits in memory as rows; the small things (races,
windows, the panic, names) come from the query index.

A "call" here is a maximal stretch of one thread's events on one core in one function (the
recording has an event per memory access, lock operation, message and switch, not per call or
return): it is the function-level view a profiler's flame chart gives, at the recording's grain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from queries import open_run
from queries.errors import QueryError
from queries.windows import declared
from tracer import schema as S
from tracer.errors import TraceError

from .errors import ExportError

KIND = {name: i for i, name in enumerate(S.KIND_NAMES)}
CORE_KEY = 4096  # (machine, core) -> machine * CORE_KEY + core


@dataclass
class Stretch:
    """A time slice (function None) or a call stretch on one core."""

    machine: int
    core: int
    thread: int
    function: str | None
    start_seq: int
    end_seq: int
    start_cycle: int
    end_cycle: int
    events: int
    next_cycle: int | None = None  # when the next stretch on this core began (None: the range ended)

    @property
    def until(self) -> int:
        """Where a drawing of it ends: the cycle after its last event, or the next stretch's start
        if that is sooner (two stretches of one core never overlap)."""
        end = self.end_cycle + 1
        return end if self.next_cycle is None else max(self.start_cycle, min(end, self.next_cycle))


@dataclass
class Write:
    seq: int
    cycle: int
    machine: int
    core: int
    thread: int
    addr: int
    symbol: str
    old: int
    new: int
    set_bits: list[str]
    cleared_bits: list[str]

    @property
    def label(self) -> str:
        changes = [f"+{b}" for b in self.set_bits] + [f"-{b}" for b in self.cleared_bits]
        return f"{self.symbol} {' '.join(changes)}" if changes else f"{self.symbol} = {self.new:#x}"


@dataclass
class Point:
    """An event's place: for flows (race pairs, messages) and marks (the panic)."""

    seq: int
    cycle: int
    machine: int
    core: int
    thread: int


@dataclass
class Story:
    run: str
    machines: list[str]
    cores: dict[str, int]
    threads: dict[int, str]
    first: int
    last: int
    watch: dict[int, str]  # addr -> symbol
    counters: dict[int, str]
    initial: dict[int, int]  # each counted word's value before event `first`
    start_cycle: int = 0  # the cycle of event `first`
    races: list[dict] = field(default_factory=list)  # symbol, first: Point, second: Point, text
    windows: list[dict] = field(default_factory=list)  # invariant, start/end seq and cycle, reason
    panic: dict | None = None  # message, where, Point
    warnings: list[str] = field(default_factory=list)
    _functions: np.ndarray | None = None
    _function_names: list[str] = field(default_factory=list)
    _bit_names: dict[int, str] = field(default_factory=dict)
    _flag_words: set[int] = field(default_factory=set)

    # -- the lanes ---------------------------------------------------------------------------------
    def lanes(self) -> list[tuple[int, int]]:
        """(machine, core) of every core of the run, machine by machine."""
        return [(m, c) for m, name in enumerate(self.machines) for c in range(self.cores.get(name, 1))]

    def lane_name(self, machine: int, core: int) -> str:
        return f"{self.machine_name(machine)} core {core}"

    def machine_name(self, machine: int) -> str:
        return self.machines[machine] if 0 <= machine < len(self.machines) else str(machine)

    def thread_name(self, thread: int) -> str:
        return self.threads.get(thread, f"thread {thread}")

    # -- the streams -------------------------------------------------------------------------------
    def scan(self, batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[str, object]]:
        """Everything that grows with the run, in seq order of completion: ("slice", Stretch),
        ("call", Stretch), ("write", Write), ("counter", (addr, cycle, value)), ("send", (id, Point)),
        ("recv", (id, Point)). Slices and calls come when they end (or at the end of the range)."""
        slices = _Runs()
        calls = _Runs()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            seq = batch.column("seq").to_numpy()
            lo, hi = np.searchsorted(seq, [self.first, self.last + 1])
            if lo >= hi:
                if seq[0] > self.last:
                    break
                continue
            b = batch.slice(int(lo), int(hi - lo))
            cols = {name: _np(b.column(name)) for name in
                    ("seq", "cycle", "machine", "core", "thread", "site", "kind", "addr", "old", "new", "sync")}
            key = cols["machine"].astype(np.int64) * CORE_KEY + cols["core"]
            func = self._functions[cols["site"] + 1]
            for s in slices.add(key, cols["thread"].astype(np.int64), cols["seq"], cols["cycle"]):
                yield "slice", self._stretch(s, None)
            for s in calls.add(key, cols["thread"].astype(np.int64) * 65536 + func, cols["seq"], cols["cycle"]):
                yield "call", self._stretch(s, self._function_names[s[1] % 65536])
            yield from self._points(cols)
        for s in slices.close():
            yield "slice", self._stretch(s, None)
        for s in calls.close():
            yield "call", self._stretch(s, self._function_names[s[1] % 65536])

    def _stretch(self, s: list[int], function: str | None) -> Stretch:
        key, value, start_seq, end_seq, start_cycle, end_cycle, n = s[:7]
        thread = value if function is None else value // 65536
        return Stretch(key // CORE_KEY, key % CORE_KEY, thread, function, start_seq, end_seq, start_cycle,
                       end_cycle, n, s[7] if len(s) > 7 else None)

    def _points(self, c: dict[str, np.ndarray]) -> Iterator[tuple[str, object]]:
        kind = c["kind"]
        writes = (kind == KIND["write"]) | (kind == KIND["rmw"])
        interesting = set(self.watch) | set(self.counters)
        rows = np.flatnonzero(writes & np.isin(c["addr"], list(interesting))) if interesting else []
        messages = np.flatnonzero((kind == KIND["send"]) | (kind == KIND["recv"]))
        for i in sorted([*map(int, rows), *map(int, messages)]):
            point = Point(int(c["seq"][i]), int(c["cycle"][i]), int(c["machine"][i]), int(c["core"][i]),
                          int(c["thread"][i]))
            if kind[i] == KIND["send"] or kind[i] == KIND["recv"]:
                yield ("send" if kind[i] == KIND["send"] else "recv"), (int(c["sync"][i]), point)
                continue
            addr, old, new = int(c["addr"][i]), int(c["old"][i]), int(c["new"][i])
            if addr in self.watch:
                yield "write", self._write(point, addr, old, new)
            if addr in self.counters:
                yield "counter", (addr, point.cycle, new)

    def _write(self, p: Point, addr: int, old: int, new: int) -> Write:
        flags = addr in self._flag_words
        set_bits = _bits(new & ~old, self._bit_names) if flags else []
        cleared = _bits(old & ~new, self._bit_names) if flags else []
        return Write(p.seq, p.cycle, p.machine, p.core, p.thread, addr, self.watch[addr], old, new, set_bits, cleared)


def _bits(mask: int, names: dict[int, str]) -> list[str]:
    return [names.get(b, f"bit{b}") for b in range(64) if (mask >> b) & 1]


def _np(array) -> np.ndarray:
    if pa.types.is_dictionary(array.type):
        array = array.indices
    return array.to_numpy(zero_copy_only=False)


class _Runs:
    """Maximal runs of one value per core key, across batches: [key, value, start_seq, end_seq,
    start_cycle, end_cycle, events] lists, each given out once it has ended."""

    def __init__(self):
        self.open: dict[int, list[int]] = {}

    def add(self, key, value, seq, cycle) -> list[list[int]]:
        done = []
        for k in np.unique(key).tolist():
            idx = np.flatnonzero(key == k)
            v = value[idx]
            brk = np.flatnonzero(v[1:] != v[:-1]) + 1
            starts = np.concatenate([[0], brk])
            ends = np.concatenate([brk, [len(idx)]]) - 1
            for s, e in zip(starts.tolist(), ends.tolist()):
                i, j = idx[s], idx[e]
                run = [k, int(v[s]), int(seq[i]), int(seq[j]), int(cycle[i]), int(cycle[j]), e - s + 1]
                prev = self.open.get(k)
                if prev is not None and prev[1] == run[1]:
                    prev[3], prev[5], prev[6] = run[3], run[5], prev[6] + run[6]
                    continue
                if prev is not None:
                    done.append(prev + [run[4]])  # it ended where this one began
                self.open[k] = run
        done.sort(key=lambda r: r[3])
        return done

    def close(self) -> list[list[int]]:
        done = sorted(self.open.values(), key=lambda r: r[3])
        self.open = {}
        return done


def read_story(run_path, first: int | None = None, last: int | None = None, watch: list[str] | None = None,
               counters: list[str] | None = None) -> tuple[Story, object]:
    """The Story of events first..last of a run, and the recording's batches to scan (tracer's
    RunDir reader: the intact prefix of a damaged run)."""
    try:
        run = open_run(run_path)
    except QueryError as e:
        raise ExportError(e.message, e.location) from None
    try:
        return _read(run, first, last, watch, counters)
    except QueryError as e:
        raise ExportError(e.message, e.location or str(run_path)) from None
    except TraceError as e:
        raise ExportError(e.message, e.location) from None
    finally:
        run.close()


def _read(run, first, last, watch, counters) -> tuple[Story, object]:
    from tracer.run_dir import RunDir

    names = run.names
    end = run.end
    if end == 0:
        raise ExportError("the recording has no events", run.dir.location)
    first = 0 if first is None else first
    last = end - 1 if last is None else last
    for what, v in (("--from", first), ("--to", last)):
        if not 0 <= v < end:
            raise ExportError(f"{what} {v} is outside the run's events 0..{end - 1}", run.dir.location)
    if first > last:
        raise ExportError(f"--from {first} is after --to {last}", run.dir.location)
    windows = run.windows()
    if watch is None:  # the words of the invariants that broke, else of every invariant
        broken = {w["invariant"] for w in windows}
        invs = [i for i in declared(run) if i.name in broken] or declared(run)
        watch = sorted({op.symbol for inv in invs for op in inv.operands})
    watched = {_word(run, s): s for s in watch}
    counted = {_word(run, s): s for s in (counters if counters is not None else watch)}
    sites = run.sql("SELECT site, function FROM sites ORDER BY site").to_pylist()
    function_names = sorted({r["function"] or "?" for r in sites} | {"?"})
    fid = {f: i for i, f in enumerate(function_names)}
    top = max([r["site"] for r in sites], default=-1)
    functions = np.full(top + 2, fid["?"], dtype=np.int64)  # by site + 1 (site -1: none)
    for r in sites:
        functions[r["site"] + 1] = fid[r["function"] or "?"]
    story = Story(str(run.path), names.machines, run.dir.cores, dict(names.threads), first, last, watched,
                  counted, {a: int(run.value(s, at=first)["value"]) for a, s in counted.items()},
                  start_cycle=int(run.sql(f"SELECT cycle FROM events WHERE seq = {int(first)}").to_pylist()[0]["cycle"]),
                  warnings=list(run.warnings), _functions=functions, _function_names=function_names,
                  _bit_names=dict(names.bit_names), _flag_words={a for a in watched if names.is_flags_word(a)})
    places = _places(run, [x for r in run.races() for x in (r["first"]["seq"], r["second"]["seq"])]
                     + ([run.panic_seq] if run.panic_seq is not None else []))
    for r in run.races():
        a, b = places[r["first"]["seq"]], places[r["second"]["seq"]]
        if first <= a.seq <= last or first <= b.seq <= last:
            story.races.append({"symbol": r["symbol"], "first": a, "second": b, "count": r["count"],
                                "text": f"race on {r['symbol']}: {r['first']['kind']} in {r['first']['function']} "
                                        f"/ {r['second']['kind']} in {r['second']['function']}"})
    for w in windows:
        if w["start_seq"] <= last and w["end_seq"] >= first:
            story.windows.append({k: w[k] for k in ("invariant", "start_seq", "end_seq", "start_cycle",
                                                   "end_cycle", "end_reason")})
    panic = run.meta.get("panic")
    if run.panic_seq is not None and first <= run.panic_seq <= last:
        story.panic = {"message": (panic or {}).get("message", "panic"), "point": places[run.panic_seq],
                       "where": f"{(panic or {}).get('function', '?')} ({(panic or {}).get('file', '?')}:"
                                f"{(panic or {}).get('line', '?')})"}
    rd = RunDir.open(run.path)
    return story, rd.reader()


def _word(run, symbol: str) -> int:
    try:
        t = run.target(symbol)
    except QueryError as e:
        raise ExportError(f"--watch/--counter {symbol}: {e.message}", run.dir.location) from None
    return t.addr


def _places(run, seqs: list[int]) -> dict[int, Point]:
    if not seqs:
        return {}
    listed = ", ".join(str(int(s)) for s in sorted(set(seqs)))
    rows = run.sql(f"SELECT seq, cycle, machine, core, thread FROM events WHERE seq IN ({listed})").to_pylist()
    return {r["seq"]: Point(r["seq"], r["cycle"], r["machine"], r["core"], r["thread"]) for r in rows}
