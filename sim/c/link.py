"""The C front-end's view of one machine being assembled (sim.assembler's `_Machine`).

A translation unit lays out its globals in the image's one data layout, names them (symbols and
names that assembly can use: `page0.flags`), records initial values, and hands its instructions to
the machine as `CPending` entries that the assembler's pass 2 resolves like its own: so C and
assembly on one machine can call each other and share data in any order.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AsmError
from ..isa import MASK64, STACK_WORDS  # STACK_WORDS: the 16 KiB kernel stack, one definition
from ..lexer import LineError
from ..program import Site
from .emitter import CInstr, SymMem, resolve_operand
from .errors import CError, at
from .preprocess import INCLUDE_DIR



class CPending:
    """A C instruction queued for the assembler's pass 2."""

    __slots__ = ("ins", "base", "label_pos", "function")

    def __init__(self, ins: CInstr, base: int, label_pos: list):
        self.ins, self.base, self.label_pos = ins, base, label_pos
        self.function = ins.site.function

    def encode(self, machine, pc: int) -> tuple[tuple, Site]:
        s = self.ins.site

        def data_addr(name: str) -> int:
            d = machine.asm.layout.names.get(name)
            if d is None or d.machine != machine.name:
                from .decls import hint
                other = f" (it is data of machine {d.machine})" if d is not None else ""
                names = [n for n, x in machine.asm.layout.names.items() if x.machine == machine.name]
                raise CError(f"undefined reference to '{name}'{other}" + hint(name, names), s.file, s.line, s.col or None)
            return d.addr

        def func_pc(name: str) -> int:
            pc_ = machine.out.labels.get(name)
            if pc_ is None:
                from .decls import hint
                raise CError(f"undefined reference to function '{name}'" + hint(name, machine.out.labels),
                             s.file, s.line, s.col or None)
            return pc_

        args = tuple(resolve_operand(a, self.base, self.label_pos, data_addr, func_pc) for a in self.ins.args)
        site = Site(machine.name, pc, s.file, s.line, s.col, s.function, self.ins.label, s.text)
        return args, site


class Link:
    def __init__(self, machine):
        self.m = machine
        self.constants = dict(machine.constants)
        self.ports = dict(machine.asm.ports)
        self.bits = machine.bits
        self.defined: set[str] = set()
        base = machine.asm.files.base_root
        # the scenario's own headers: #include <linux/nfs_page.h> finds <scenario>/include/ first
        self.include_dirs = [base / "include", base] if base is not None else []

    def display(self, path: str) -> str:
        p = Path(path)
        try:
            return "include/" + p.resolve().relative_to(INCLUDE_DIR).as_posix()
        except ValueError:
            return self.m.asm.files.display(p)

    def allocate(self, symbol: str, words: int, coord) -> int:
        layout = self.m.asm.layout
        if symbol in layout.objects or symbol in self.m.defined:
            mach, loc = layout.objects.get(symbol, (self.m.name, self.m.defined.get(symbol, "")))
            raise at(coord, f"duplicate name '{symbol}' (first defined at {loc}"
                            + (f" on machine {mach})" if mach != self.m.name else ")"))
        try:
            addr = layout.allocate(max(words, 1), coord.column if coord else None)
        except LineError as e:
            raise at(coord, e.message) from None
        layout.objects[symbol] = (self.m.name, f"{coord.file}:{coord.line}" if coord else "?")
        self.defined.add(symbol)
        return addr

    def name(self, name: str, addr: int, length: int | None) -> None:
        self.m.asm.layout.name(self.m.name, name, addr, length)

    def word(self, name: str, obj: str, fld: str, addr: int) -> None:
        self.m.asm.layout.word(self.m.name, name, obj, fld, addr)

    def init(self, addr: int, value) -> None:
        self.m.c_initial.append((addr, value))

    def warnings_mem(self) -> SymMem:
        name = f"{self.m.name}_warnings"
        layout = self.m.asm.layout
        if name not in layout.names:
            addr = layout.allocate(1, None)
            layout.objects[name] = (self.m.name, "WARN_ON")
            layout.name(self.m.name, name, addr)
            layout.word(self.m.name, name, name, "", addr)
        return SymMem(None, name, 0)

    def static_label(self, info) -> tuple[str, bool]:
        """The label of a static function (once per machine for a header's inline function)."""
        key = (info.coord.file, info.coord.line, info.name)
        statics = self.m.c_statics
        if key in statics:
            return statics[key], False
        label = info.name
        n = 1
        while label in self.m.out.labels or label in statics.values() or label in self.m.c_function_names:
            n += 1
            label = f"{info.name}.{n}"
        statics[key] = label
        return label, True

    def add_code(self, unit) -> None:
        m = self.m
        base = len(m.pending)
        label_pos = unit.em.label_pos
        for i, ins in enumerate(unit.em.code):
            pc = base + i
            if ins.label:
                if ins.label in m.out.labels:
                    first = m.label_where.get(ins.label)
                    where = f" (first defined at {first.loc})" if first is not None else ""
                    raise CError(f"duplicate function '{ins.label}'{where}", ins.site.file, ins.site.line,
                                 ins.site.col or None)
                m.out.labels[ins.label] = pc
                m.labels_at.setdefault(pc, []).append(ins.label)
                m.c_function_names.add(ins.label)
            m.pending.append(CPending(ins, base, label_pos))
        for function, name, type_, reg, slot, lo, hi in unit.locals:
            m.c_locals.append((function, name, type_, reg, slot, base + label_pos[lo], base + label_pos[hi]))
        for function, lo, hi, size, words in unit.frames:
            m.c_frames.append((function, base + label_pos[lo], base + label_pos[hi], size, words))
        m.asm.files.sources.update(unit.sources)


def resolve_initial(machine) -> None:
    """C globals' initial values, now that every data name is known."""
    from .emitter import Addr
    for addr, value in machine.c_initial:
        if isinstance(value, Addr):
            d = machine.asm.layout.names.get(value.name)
            if d is None:
                raise AsmError(f"undefined reference to '{value.name}' in an initializer")
            value = (d.addr + value.off) & MASK64
        machine.out.initial[addr] = value & MASK64


def add_thread_stacks(layout, machines, threads) -> dict[str, tuple[int, int]]:
    """A 16 KiB stack for every thread of a machine with C code: `__stack_flusher`, thread-private."""
    from ..program import Symbol
    with_c = {m.name for m in machines if m.c_function_names}
    stacks = {}
    for name, machine, _entry in threads:
        if machine not in with_c:
            continue
        lo = layout.allocate(STACK_WORDS, None)
        sym = f"__stack_{name}"
        layout.objects[sym] = (machine, "stack")
        layout.symbols.append(Symbol(sym, lo, sym, "", STACK_WORDS, machine))
        stacks[name] = (lo, lo + STACK_WORDS)
    return stacks


def add_entry_stubs(machines, threads, sites) -> None:
    """A thread whose entry is a C function starts at `call f; halt`: returning ends the thread."""
    from ..isa import Label
    from ..program import Instr
    by_name = {m.name: m for m in machines}
    for _name, machine, entry in threads:
        m = by_name.get(machine)
        if m is None or entry not in m.c_function_names or entry in m.out.entries:
            continue
        pc = m.out.labels[entry]
        first = sites[m.out.code[pc].site]
        stub = len(m.out.code)
        for i, (op, args) in enumerate((("call", (Label(pc, entry),)), ("halt", ()))):
            sites.append(Site(m.name, stub + i, first.file, first.line, first.col, entry, "", first.text))
            m.out.code.append(Instr(op, args, len(sites) - 1))
        m.out.entries[entry] = stub
