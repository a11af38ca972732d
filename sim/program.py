"""What the assembler produces: decoded instructions, sites, symbols and the data layout.

An `Image` is the whole assembled scenario: one `MachineCode` per machine (its instructions and
labels) plus one global data layout, so that every address names exactly one object field on
exactly one machine. Nothing here is parsed again after assembly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .isa import Operand


@dataclass(frozen=True, slots=True)
class Site:
    """Where an instruction came from. Site ids are global across machines."""

    machine: str
    pc: int
    file: str  # path as given to the assembler (relative to the scenario folder when possible)
    line: int
    col: int
    function: str  # the enclosing global label
    label: str  # the label (global `fn`, or local as `fn.name`) at exactly this pc, else ''
    text: str  # the source line, stripped; for macro expansions, the macro call's line


@dataclass(frozen=True, slots=True)
class Instr:
    op: str  # a key of sim.isa.OPS
    args: tuple[Operand, ...]
    site: int  # index into Image.sites


@dataclass(frozen=True, slots=True)
class Symbol:
    """One named word (or array element) of data: `page0.flags`, `req0.wb_flags`, `counter`."""

    name: str
    addr: int
    object: str  # `page0`
    field: str  # `flags` ('' for a scalar .word)
    size: int  # words covered by this name (1 for each array element's own symbol)
    machine: str


@dataclass(slots=True)
class MachineCode:
    name: str
    code: list[Instr] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)  # global labels (functions) -> pc
    initial: dict[int, int] = field(default_factory=dict)  # addr -> initial value, this machine's data
    entries: dict[str, int] = field(default_factory=dict)  # C thread functions -> pc of `call f; halt`


@dataclass(slots=True)
class Image:
    machines: dict[str, MachineCode]
    sites: list[Site]
    symbols: list[Symbol]  # sorted by addr
    bits: dict[str, int]  # named bit constants (.bit): name -> bit number
    constants: dict[str, int]  # every .equ/.bit/predefined constant
    memory_words: int  # size of the global address space in words
    sources: dict[str, str]  # every file read (including .include) -> its text, for hashing
    # C: each thread's in-memory stack (lo, hi) word addresses, and per machine the C locals:
    # (function, name, type, register or None, frame slot or None, first pc, end pc) of each
    stacks: dict[str, tuple[int, int]] = field(default_factory=dict)
    locals: dict[str, list[tuple]] = field(default_factory=dict)
    # per machine, each C function with an in-memory frame: (function, first pc, end pc, frame
    # size in words, ((offset, word name), ...)); its code has one `enter` and one `leave`
    frames: dict[str, list[tuple]] = field(default_factory=dict)
    # constant expressions given from outside the sources (threads' initial registers), evaluated
    # as an operand on that machine would be: (machine, text) -> value
    values: dict[tuple[str, str], int] = field(default_factory=dict)

    def symbol_at(self, addr: int) -> Symbol | None:
        lo, hi = 0, len(self.symbols)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.symbols[mid].addr <= addr:
                lo = mid + 1
            else:
                hi = mid
        if lo and self.symbols[lo - 1].addr <= addr < self.symbols[lo - 1].addr + self.symbols[lo - 1].size:
            return self.symbols[lo - 1]
        return None

    def symbol(self, name: str) -> Symbol | None:
        for s in self.symbols:
            if s.name == name:
                return s
        return None

    def require_symbol(self, name: str) -> Symbol:
        """The symbol, or a ScenarioError that suggests the closest names."""
        sym = self.symbol(name)
        if sym is None:
            import difflib

            from .errors import ScenarioError

            close = difflib.get_close_matches(name, [s.name for s in self.symbols], n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ScenarioError(f"unknown symbol {name!r}{hint}")
        return sym
