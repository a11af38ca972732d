"""TARGET strings: `page0.flags`, `page0.flags:PG_dirty`, `x[3]`, `0x1f0`, `496`, `0x1f0:3`."""

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
    bit = names.bits.get(bitspec)
    if bit is None:
        raise QueryError(suggestion(bitspec, names.bits, "bit"))
    if not 0 <= bit < 64:
        raise QueryError(f"bit {bitspec} = {bit} is out of range 0..63")
    return Target(raw, addr, symbol, bit, bitspec)
