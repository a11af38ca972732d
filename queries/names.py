"""Numbers to names: sites, threads, machines, words and bits of one indexed run.

Loaded from the index's small tables on first use and kept in plain dicts, so that decorating a
query's answer costs dictionary look-ups, not joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from tracer import schema as S

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Site:
    site: int
    machine: str
    function: str
    file: str
    line: int
    label: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN_SITE = Site(-1, "", "", "", 0, "", "")


class Names:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    @cached_property
    def sites(self) -> dict[int, Site]:
        rows = self.con.execute(
            "SELECT site, machine, function, file, line, label, text FROM sites").fetchall()
        return {r[0]: Site(*r) for r in rows}

    @cached_property
    def threads(self) -> dict[int, str]:
        return dict(self.con.execute("SELECT thread, name FROM threads").fetchall())

    @cached_property
    def thread_ids(self) -> dict[str, int]:
        return {name: tid for tid, name in self.threads.items()}

    @cached_property
    def machines(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT name FROM machines ORDER BY machine").fetchall()]

    @cached_property
    def words(self) -> dict[int, str]:
        """addr -> canonical name."""
        return dict(self.con.execute("SELECT addr, name FROM words").fetchall())

    @cached_property
    def word_initial(self) -> dict[int, int]:
        return dict(self.con.execute("SELECT addr, initial FROM words").fetchall())

    @cached_property
    def word_object(self) -> dict[int, str]:
        return dict(self.con.execute("SELECT addr, object FROM words").fetchall())

    @cached_property
    def symbols(self) -> dict[str, tuple[int, int]]:
        """Every name a user may type -> (addr, size): canonical word names and symbol names."""
        out: dict[str, tuple[int, int]] = {}
        for addr, name, size in self.con.execute("SELECT addr, name, size FROM symbols").fetchall():
            out.setdefault(name, (addr, max(int(size), 1)))
        for addr, name in self.words.items():
            out.setdefault(name, (addr, 1))
        return out

    # -- C stack words (queries/stack_names.py): named per access, by the frame that holds them ---
    @cached_property
    def stacks(self) -> list[tuple[int, int, int]]:
        """(lo, hi, thread) of every thread's C stack region, by address."""
        return [tuple(r) for r in self.con.execute("SELECT lo, hi, thread FROM stacks ORDER BY lo").fetchall()]

    @cached_property
    def frame_sites(self) -> dict[int, str]:
        """site -> function.local of a direct frame access."""
        return dict(self.con.execute("SELECT site, name FROM frame_sites").fetchall())

    @cached_property
    def stack_names(self) -> dict[int, str]:
        """seq -> name of an access through a pointer into a live frame."""
        return dict(self.con.execute("SELECT seq, name FROM stack_names").fetchall())

    @cached_property
    def stack_namer(self):
        """The frames of the run (for `THREAD:FUNCTION.LOCAL` targets)."""
        from .stack_names import namer_from_catalogue
        return namer_from_catalogue(self.con)

    def stack_owner(self, addr: int) -> int | None:
        """The thread whose C stack holds addr, or None."""
        for lo, hi, thread in self.stacks:
            if lo <= addr < hi:
                return thread
        return None

    def is_stack(self, addr: int) -> bool:
        return bool(self.stacks) and self.stack_owner(addr) is not None

    def access_word(self, addr: int, seq: int, site: int, thread: int) -> str | None:
        """The name of the word an access touched: a C stack word is named by the frame that held
        it then (`flusher:nfs_page_async_flush.req`), any other word by its symbol."""
        if self.stacks and self.stack_owner(addr) is not None:
            local = self.frame_sites.get(site)
            if local is not None:
                return f"{self.threads.get(thread, thread)}:{local}"
            name = self.stack_names.get(seq)
            if name is not None:
                return name
        return self.words.get(addr)

    @cached_property
    def bits(self) -> dict[str, int]:
        return dict(self.con.execute("SELECT name, bit FROM bits ORDER BY bit, name").fetchall())

    @cached_property
    def bit_names(self) -> dict[int, str]:
        """bit number -> its name(s), joined with '/' when several names share the number."""
        return bit_names(self.bits.items())

    def site(self, site: int) -> Site:
        return self.sites.get(site, UNKNOWN_SITE)

    def thread(self, thread: int) -> str | None:
        return self.threads.get(thread)

    def machine(self, machine: int) -> str | None:
        return self.machines[machine] if 0 <= machine < len(self.machines) else None

    def event(self, row: Mapping) -> dict:
        """An event of numbers (seq, cycle, machine, core, thread, kind, site; cycle and site may
        be absent) as every answer shows one: machine and thread by name, kind by name, and the
        site as function, file and line. The one place that turns an event into names."""
        out: dict = {"seq": int(row["seq"])}
        if "cycle" in row:
            out["cycle"] = int(row["cycle"])
        out.update(machine=self.machine(int(row["machine"])), core=int(row["core"]),
                   thread=self.thread(int(row["thread"])), thread_id=int(row["thread"]),
                   kind=self.kind(row["kind"]))
        if "mode" in row:  # how the access was made, and both together as a race report says it
            out["mode"] = self.mode(row["mode"])
            out["access"] = f"{out['mode']} {out['kind']}"
        if "site" in row:
            out.update(self.where(int(row["site"])))
        return out

    def where(self, site: int) -> dict:
        """A site as {function, file, line, site} (None for a site the run does not know)."""
        s = self.sites.get(site)
        return {"function": s.function if s else None, "file": s.file if s else None,
                "line": s.line if s else None, "site": site}

    def word(self, addr: int) -> str | None:
        return self.words.get(addr)

    def mode(self, code) -> str:
        """An access mode code's name (a name is kept)."""
        if isinstance(code, str) or not 0 <= int(code) < len(S.MODE_NAMES):
            return str(code)
        return S.MODE_NAMES[int(code)]

    def kind(self, code) -> str:
        """A kind code's name (a name, as SQL returns it, is kept)."""
        if isinstance(code, str) or not 0 <= int(code) < len(S.KIND_NAMES):
            return str(code)
        return S.KIND_NAMES[int(code)]

    def is_flags_word(self, addr: int) -> bool:
        return is_flags_name(self.words.get(addr))

    def decode_bits(self, mask: int, addr: int | None = None) -> list[str]:
        """The names of the bits set in mask (bitN for unnamed ones), lowest bit first; nothing
        when `addr` is given and is not a flags word."""
        if addr is not None and not self.is_flags_word(addr):
            return []
        return decode_bits(mask, self.bit_names)


# -- flag bits: the one place that names them (queries and diff) ----------------------------------

def bit_names(pairs: Iterable[tuple[str, int]]) -> dict[int, str]:
    """(name, bit) pairs -> bit number -> its name(s), joined with '/' when several share it."""
    out: dict[int, list[str]] = {}
    for name, bit in sorted(pairs, key=lambda p: (p[1], p[0])):
        out.setdefault(int(bit), []).append(name)
    return {bit: "/".join(names) for bit, names in out.items()}


def is_flags_name(name: str | None) -> bool:
    """Bit names describe flags words only: those whose field is named *flags (`page0.flags`,
    `req0.wb_flags`), the kernel's convention. A counter, a lock word or page data is a value."""
    return name is not None and name.split(".")[-1].split("[")[0].endswith("flags")


def decode_bits(mask: int, names: Mapping[int, str]) -> list[str]:
    """The names of the bits set in mask (bitN for unnamed ones), lowest bit first."""
    out = []
    bit = 0
    while mask:
        if mask & 1:
            out.append(names.get(bit, f"bit{bit}"))
        mask >>= 1
        bit += 1
    return out
