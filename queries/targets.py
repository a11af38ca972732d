"""TARGET strings: `page0.flags`, `page0.flags:PG_dirty`, `x[3]`, `0x1f0`, `496`, `0x1f0:3`, and C
locals in a thread's stack frames: `flusher:nfs_page_async_flush.req`, `t1:worker.s.b[1]:PG_dirty`
(every access that the frames of that function on that thread made to that local: a stack word's
name depends on time, see queries/stack_names.py)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import QueryError
from .names import Names

_ADDRESS = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)$")


@dataclass(frozen=True)
class Target:
    text: str  # as the user wrote it
    addr: int
    symbol: str | None  # the word's canonical name, None for an unnamed address
    bit: int | None = None
    bit_name: str | None = None
    local: str | None = None  # THREAD:FUNCTION.LOCAL: accesses named so, at the words in `addrs`
    addrs: tuple[int, ...] = ()

    @property
    def mask(self) -> int:
        return 0 if self.bit is None else 1 << self.bit

    @property
    def label(self) -> str:
        base = self.symbol or hex(self.addr)
        return base if self.bit is None else f"{base}:{self.bit_name or self.bit}"

    def as_dict(self) -> dict:
        return {"target": self.text, "symbol": self.symbol, "addr": self.addr, "bit": self.bit,
                "bit_name": self.bit_name}


def closest(word: str, candidates, n: int = 3) -> list[str]:
    pool = sorted(set(candidates))
    hits = difflib.get_close_matches(word, pool, n=n, cutoff=0.6)
    if not hits:  # a prefix or substring is a good guess too (page0 -> page0.flags)
        hits = [c for c in pool if c.startswith(word) or word in c][:n]
    return hits


def suggestion(word: str, candidates, what: str) -> str:
    hits = closest(word, candidates)
    if hits:
        return f"unknown {what} '{word}'; did you mean {', '.join(hits)}?"
    return f"unknown {what} '{word}'"


def resolve(text: str, names: Names) -> Target:
    raw = text.strip()
    if not raw:
        raise QueryError("empty target: give a symbol (page0.flags), symbol:bit or an address")
    local = _local_target(raw, names)
    if local is not None:
        return local
    base, bitspec = raw, None
    if ":" in raw:
        base, bitspec = (s.strip() for s in raw.rsplit(":", 1))
        if not bitspec:
            raise QueryError(f"'{raw}': nothing after ':' (expected a bit name or number)")
    if _ADDRESS.match(base):
        addr = int(base, 0)
        symbol = names.word(addr)
    else:
        entry = names.symbols.get(base)
        if entry is None:
            raise QueryError(suggestion(base, names.symbols, "symbol"))
        addr, size = entry
        if size > 1:
            raise QueryError(f"'{base}' covers {size} words; name one of them, "
                             f"e.g. {base}[0] .. {base}[{size - 1}]")
        symbol = names.word(addr) or base
    if bitspec is None:
        return Target(raw, addr, symbol)
    if _ADDRESS.match(bitspec):
        bit = int(bitspec, 0)
        if not 0 <= bit < 64:
            raise QueryError(f"bit {bit} is out of range 0..63")
        return Target(raw, addr, symbol, bit, names.bit_names.get(bit))
    bit, bit_name = _bit(bitspec, names)
    return Target(raw, addr, symbol, bit, bit_name)


def _bit(bitspec: str, names: Names) -> tuple[int, str | None]:
    if _ADDRESS.match(bitspec):
        bit = int(bitspec, 0)
        if not 0 <= bit < 64:
            raise QueryError(f"bit {bit} is out of range 0..63")
        return bit, names.bit_names.get(bit)
    bit = names.bits.get(bitspec)
    if bit is None:
        raise QueryError(suggestion(bitspec, names.bits, "bit"))
    if not 0 <= bit < 64:
        raise QueryError(f"bit {bitspec} = {bit} is out of range 0..63")
    return bit, bitspec


def _local_target(raw: str, names: Names) -> Target | None:
    """`THREAD:FUNCTION.LOCAL[:bit]`, or None when raw is not of that form (a symbol:bit, an
    address). THREAD:X with a dot in X is always a local (bit names have no dots)."""
    head, colon, rest = raw.partition(":")
    if not colon:
        return None
    path, _, bitspec = rest.partition(":")
    head, path = head.strip(), path.strip()
    threads = names.thread_ids
    if "." not in path or head not in threads:
        if "." not in path or head in names.symbols or _ADDRESS.match(head):
            return None  # symbol:bit, address:bit
    if head not in threads:
        raise QueryError(f"'{raw}': unknown thread '{head}'{_closest(head, threads)}")
    tid = threads[head]
    namer = names.stack_namer
    functions = namer.locals_of(tid)
    function = next((f for f in sorted(functions, key=len, reverse=True) if path.startswith(f + ".")), None)
    if function is None:
        fname = path.split(".", 1)[0]
        if not functions:
            raise QueryError(f"'{raw}': no C function on {head}'s machine keeps locals in a stack frame "
                             "(a local kept in a register has no memory accesses; `replay --show "
                             f"{head}:LOCAL` reads it)")
        raise QueryError(f"'{raw}': no function '{fname}' with locals in a stack frame on {head}"
                         f"{_closest(fname, functions)}")
    local = path[len(function) + 1:]
    words = functions[function]
    if local not in words:
        inside = sorted(w for w in words if w.startswith(local + ".") or w.startswith(local + "["))
        if inside:
            raise QueryError(f"'{head}:{function}.{local}' covers {len(inside)} words; name one of them, "
                             f"e.g. {', '.join(f'{head}:{function}.{w}' for w in inside[:3])}")
        raise QueryError(f"'{raw}': no local '{local}' in the stack frame of {function}{_closest(local, words)}"
                         f" (a local kept in a register has no memory accesses: `replay --show {head}:{local}`"
                         " reads it)")
    full = f"{head}:{function}.{local}"
    addrs = tuple(namer.addresses(tid, function, local))
    bit, bit_name = (None, None) if not bitspec.strip() else _bit(bitspec.strip(), names)
    return Target(raw, addrs[0] if addrs else -1, full, bit, bit_name, local=full, addrs=addrs)


def _closest(word: str, candidates) -> str:
    """'; did you mean a, b?' or, when nothing is close, the names there are (a few)."""
    hits = closest(word, candidates)
    if hits:
        return f"; did you mean {', '.join(hits)}?"
    pool = sorted(candidates)
    return f" (known: {', '.join(pool[:6])}{', ...' if len(pool) > 6 else ''})" if pool else ""
