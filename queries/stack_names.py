"""Stack words named as C locals: `flusher:nfs_page_async_flush.req`, `t1:worker.s.b[1]`.

A C local whose address is taken, an array or a struct lives in its thread's stack frame in memory
(sim/c). The word it occupies has no fixed name: frames come and go, so the same word is `x` of
one call and `buf[3]` of the next, and a recursive function's `here` is a different word at every
depth. So a stack word is named per access, `THREAD:FUNCTION.LOCAL` (with `.field` and `[i]` inside
struct and array locals), by the frame that holds it when it is accessed; outside any live frame it
keeps its region's name (`__stack_flusher[2041]`). Two sources make that cheap:

- a direct frame access (`[sp + k]` in the function's own code, which is most of them) is named by
  its site alone: the code generator knows the word statically (frame_sites.parquet, written by the
  recorder from the program image). Nothing per access is stored for these;
- an access through a pointer (`*p = v` in a callee, `a[i]`) is named by the frame live at the
  time, from the frames the recorder kept (frames.parquet: every C frame entered and left, with
  its cycle and base): at index build, once, into the small `stack_names` table (seq -> name).

Stack words are thread-private (the issue's rule): recorded like every access, but never reported
by races, hb lockset checks or windows (`is_stack`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from .rundir import OPTIONAL_TABLES

STACK_PREFIX = "__stack_"  # sim/c/link.py names each thread's stack region so
NEVER = np.iinfo(np.int64).max  # a frame still live when the run ended


@dataclass
class Layout:
    """One C function's frame: its code (pcs lo..hi-1 on `machine`) and its words by offset."""

    machine: str
    function: str
    lo: int
    hi: int
    size: int
    words: dict[int, str] = field(default_factory=dict)


@dataclass
class Frame:
    """One call's frame: thread `thread`'s words base..base+size-1, live from enter to leave."""

    thread: int
    layout: Layout
    base: int
    entered: int  # cycle
    left: int = NEVER  # cycle


class StackNamer:
    """Names of stack words from a run's tables (plain pyarrow tables or lists of dicts)."""

    def __init__(self, symbols, threads, sites, frame_words, frame_sites, frames):
        self.thread_names = {int(t["thread"]): t["name"] for t in _rows(threads)}
        self.thread_machine = {int(t["thread"]): t["machine"] for t in _rows(threads)}
        by_name = {name: tid for tid, name in self.thread_names.items()}
        self.stacks: list[tuple[int, int, int]] = []  # (lo, hi, thread), sorted
        for s in _rows(symbols):
            if s["object"].startswith(STACK_PREFIX) and s["name"] == s["object"]:
                tid = by_name.get(s["object"][len(STACK_PREFIX):])
                if tid is not None:
                    self.stacks.append((int(s["addr"]), int(s["addr"]) + int(s["size"]), tid))
        self.stacks.sort()
        self._los = [s[0] for s in self.stacks]
        self.site_local = {int(r["site"]): r["name"] for r in _rows(frame_sites)}
        layouts: dict[tuple[str, int], Layout] = {}
        for w in _rows(frame_words):
            key = (w["machine"], int(w["lo_pc"]))
            lay = layouts.get(key)
            if lay is None:
                lay = layouts[key] = Layout(w["machine"], w["function"], int(w["lo_pc"]), int(w["hi_pc"]),
                                            int(w["size"]))
            lay.words[int(w["off"])] = w["name"]
        self.layouts = sorted(layouts.values(), key=lambda lay: (lay.machine, lay.lo))
        self.site_pc = {int(s["site"]): (s["machine"], int(s["pc"])) for s in _rows(sites)}
        self.frames = self._frames(_rows(frames))
        self._addresses: dict[tuple, list[int]] = {}

    # -- which words are stack words ---------------------------------------------------------------
    def owner(self, addr: int) -> int | None:
        """The thread whose stack holds addr, or None."""
        i = bisect.bisect_right(self._los, addr) - 1
        if i >= 0 and addr < self.stacks[i][1]:
            return self.stacks[i][2]
        return None

    def is_stack(self, addr: int) -> bool:
        return self.owner(addr) is not None

    def stack_mask(self, addrs: np.ndarray) -> np.ndarray:
        """Which of addrs are stack words (vectorised)."""
        out = np.zeros(len(addrs), dtype=bool)
        for lo, hi, _ in self.stacks:
            out |= (addrs >= lo) & (addrs < hi)
        return out

    # -- frames ---------------------------------------------------------------------------------------
    def layout_at(self, site: int) -> Layout | None:
        where = self.site_pc.get(site)
        if where is None:
            return None
        machine, pc = where
        for lay in self.layouts:  # few functions have frames
            if lay.machine == machine and lay.lo <= pc < lay.hi:
                return lay
        return None

    def _frames(self, rows: list[dict]) -> list[Frame]:
        """Every frame entered, each thread's enters and leaves matched as a stack (in cycle order)."""
        out: list[Frame] = []
        live: dict[int, list[Frame]] = {}
        for r in sorted(rows, key=lambda r: int(r["cycle"])):  # stable: one thread's order is kept
            base = int(r["base"])
            thread = self.owner(base)
            if thread is None:
                continue
            stack = live.setdefault(thread, [])
            if r["entered"]:
                lay = self.layout_at(int(r["site"]))
                if lay is not None:
                    f = Frame(thread, lay, base, int(r["cycle"]))
                    stack.append(f)
                    out.append(f)
            else:
                while stack and stack[-1].base < base:  # (frames not left: a panic unwound them)
                    stack.pop().left = int(r["cycle"])
                if stack and stack[-1].base == base:
                    stack.pop().left = int(r["cycle"])
        return out

    def full_name(self, thread: int, local: str) -> str:
        return f"{self.thread_names.get(thread, thread)}:{local}"

    # -- naming accesses --------------------------------------------------------------------------------
    def direct_name(self, site: int, thread: int) -> str | None:
        """The name of a direct frame access (by its site), or None."""
        local = self.site_local.get(site)
        return None if local is None else self.full_name(thread, local)

    def pointer_names(self, seq, cycle, issued, addr, site) -> tuple[np.ndarray, list[str]]:
        """For accesses (numpy columns) to stack words that are not direct frame accesses: the seqs
        that a live frame names, and their names. A buffered (tso) store is named by the frame
        live when it was issued."""
        seqs: list[int] = []
        names: list[str] = []
        if not self.frames or not len(seq):
            return np.array(seqs, dtype=np.int64), names
        when = np.where(issued >= 0, issued, cycle)
        # every frame's words: (addr, entered, left, name), in (addr, entered) order
        entries: dict[int, list[tuple[int, int, str]]] = {}
        for f in self.frames:
            prefix = f"{self.thread_names.get(f.thread, f.thread)}:{f.layout.function}."
            for off, name in f.layout.words.items():
                entries.setdefault(f.base + off, []).append((f.entered, f.left, prefix + name))
        for a in np.unique(addr).tolist():
            spans = entries.get(a)
            if spans is None:
                continue
            spans.sort()
            starts = np.array([s[0] for s in spans], dtype=np.int64)
            rows = np.flatnonzero(addr == a)
            k = np.searchsorted(starts, when[rows], side="left") - 1  # entered strictly before
            for r, j in zip(rows.tolist(), k.tolist()):
                if j >= 0 and int(when[r]) < spans[j][1]:
                    seqs.append(int(seq[r]))
                    names.append(spans[j][2])
        order = np.argsort(np.array(seqs, dtype=np.int64), kind="stable")
        return np.array(seqs, dtype=np.int64)[order], [names[i] for i in order.tolist()]

    # -- targets ----------------------------------------------------------------------------------------
    def locals_of(self, thread: int) -> dict[str, set[str]]:
        """function -> every word name of its frame, for the functions with frames on the machine
        of `thread` (what `THREAD:FUNCTION.LOCAL` may name)."""
        machine = self.thread_machine.get(thread)
        return {lay.function: set(lay.words.values()) for lay in self.layouts if lay.machine == machine}

    def addresses(self, thread: int, function: str, local: str) -> list[int]:
        """Every word that bore THREAD:FUNCTION.LOCAL at some point of the run."""
        key = (thread, function, local)
        found = self._addresses.get(key)
        if found is None:
            offsets = {id(lay): [off for off, name in lay.words.items() if name == local] for lay in self.layouts}
            found = self._addresses[key] = sorted({f.base + off for f in self.frames
                                                   if f.thread == thread and f.layout.function == function
                                                   for off in offsets[id(f.layout)]})
        return found


def _rows(table) -> list[dict]:
    if table is None:
        return []
    if isinstance(table, pa.Table):
        return table.to_pylist()
    return list(table)


# -- the index (queries/index.py calls these while it builds) ------------------------------------------

FRAME_TABLES = ("frame_words", "frame_sites", "frames")


def frame_file_notes(rd) -> list[str]:
    """A run recorded with the frame tables has all three (frames.parquet last, when the run ends);
    older runs have none. One or two of them missing is damage: stack words lose their C names."""
    present = {name: (rd.path / OPTIONAL_TABLES[name][0]).exists() for name in FRAME_TABLES}
    if not any(present.values()) or all(present.values()):
        return []
    missing = [OPTIONAL_TABLES[name][0] for name, here in present.items() if not here]
    if missing == ["frames.parquet"] and rd.meta.get("truncated") is True:
        return []  # written when the run ends: a killed recording has none (its own note says so)
    return [f"{', '.join(missing)} missing: stack words are named by their stack region, not as C locals"]


def has_frames(rd) -> bool:
    """Did the recorder keep any C frame (read from the file's footer, nothing else)?"""
    path = rd.path / "frames.parquet"
    if not path.exists():
        return False
    try:
        return pq.ParquetFile(path).metadata.num_rows > 0
    except (pa.ArrowException, OSError):
        return False


def catalogue_tables(rd, symbols: pa.Table, threads: pa.Table) -> dict[str, pa.Table]:
    """The catalogue's stack tables that need no accesses: stacks and the recorded frame tables."""
    out = {name: rd.read_optional_table(name) for name in FRAME_TABLES}
    namer = StackNamer(symbols, threads, [], [], [], [])
    names = namer.thread_names
    out["stacks"] = pa.table({
        "thread": pa.array([t for _, _, t in namer.stacks], pa.int32()),
        "name": pa.array([names[t] for _, _, t in namer.stacks], pa.string()),
        "lo": pa.array([lo for lo, _, _ in namer.stacks], pa.int64()),
        "hi": pa.array([hi for _, hi, _ in namer.stacks], pa.int64())})
    return out


def namer_from_catalogue(con) -> StackNamer:
    def table(sql: str) -> list[dict]:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    return StackNamer(table("SELECT addr, name, object, size FROM symbols WHERE starts_with(object, '__stack_')"),
                      table("SELECT thread, name, machine FROM threads"),
                      table("SELECT site, machine, pc FROM sites WHERE site IN "
                            "(SELECT DISTINCT site FROM frames)"),
                      table("SELECT * FROM frame_words"), table("SELECT * FROM frame_sites"),
                      table("SELECT * FROM frames"))


def add_pointer_names(con) -> int:
    """Fill `stack_names` for the accesses through pointers into a live frame (con: the catalogue
    being built, with the bulk tables registered). Returns how many were named."""
    if not con.execute("SELECT count(*) FROM frames").fetchall()[0][0]:
        return 0
    namer = namer_from_catalogue(con)
    rows = con.execute("""
        SELECT a.seq, a.cycle, a.issued, a.addr, a.site
        FROM accesses a JOIN stacks s ON a.addr >= s.lo AND a.addr < s.hi
        WHERE a.site NOT IN (SELECT site FROM frame_sites)""").fetchnumpy()
    seqs, names = namer.pointer_names(*(np.asarray(rows[c], dtype=np.int64)
                                        for c in ("seq", "cycle", "issued", "addr", "site")))
    if len(seqs):
        con.register("_stack_names", pa.table({"seq": pa.array(seqs), "name": pa.array(names, pa.string())}))
        try:
            con.execute("INSERT INTO stack_names SELECT * FROM _stack_names")
        finally:
            con.unregister("_stack_names")
    return len(seqs)
