"""The instruction buffer of one translation unit: instructions with placeholders, labels, sites.

The code generator appends instructions whose operands may still name things that are only known
when the whole machine has been read: a data symbol's address (`Addr`, `SymMem`: C globals and
`extern` data of assembly files), another function (`FuncRef`), a label of this unit (`Jump`).
`resolve` turns them into the ISA's operands once every machine's layout and labels are known
(the assembler's pass 2), so C and assembly may refer to each other in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..isa import MASK64, Imm, Label, Mem, Reg

RET = 0  # return value register
AT = 14  # scratch register of a single operation
SP = 15  # the thread's in-memory stack pointer (frames of address-taken, array and struct locals)
ARG_REGS = tuple(range(1, 9))  # parameters r1..r8
POOL = tuple(range(1, 14))  # registers for locals and temporaries: r1..r13


@dataclass(frozen=True, slots=True)
class Addr:
    """The address of data symbol `name` plus `off` words, as an immediate."""

    name: str
    off: int = 0


@dataclass(frozen=True, slots=True)
class SymMem:
    """A memory operand [base + name + off] with `name` a data symbol (base may be None)."""

    base: int | None
    name: str
    off: int = 0


@dataclass(frozen=True, slots=True)
class FuncRef:
    name: str


@dataclass(frozen=True, slots=True)
class Jump:
    label: int  # a label id of this unit


@dataclass(frozen=True, slots=True)
class SiteInfo:
    file: str
    line: int
    col: int
    function: str
    text: str


@dataclass(slots=True)
class CInstr:
    op: str
    args: tuple
    site: SiteInfo
    label: str = ""  # the function's name on its first instruction


class Emitter:
    """Instructions of a unit in order, with label ids bound to positions."""

    def __init__(self) -> None:
        self.code: list[CInstr] = []
        self.label_pos: list[int | None] = []
        self.site: SiteInfo | None = None

    def new_label(self) -> int:
        self.label_pos.append(None)
        return len(self.label_pos) - 1

    def bind(self, label: int) -> None:
        self.label_pos[label] = len(self.code)

    def emit(self, op: str, *args) -> None:
        assert self.site is not None
        self.code.append(CInstr(op, args, self.site))

    def drop_jumps_to_next(self, start: int) -> None:
        """Remove `jmp L` where L is the next instruction (from code[start:])."""
        i = start
        while i < len(self.code):
            ins = self.code[i]
            if ins.op == "jmp" and isinstance(ins.args[0], Jump) and self.label_pos[ins.args[0].label] == i + 1:
                del self.code[i]
                self.label_pos[:] = [p - 1 if p is not None and p > i else p for p in self.label_pos]
                continue
            i += 1

    def last_is_jump(self) -> bool:
        return bool(self.code) and self.code[-1].op in ("jmp", "ret", "halt") and \
            not any(p == len(self.code) for p in self.label_pos)


def resolve_operand(arg, base_pc: int, label_pos: list[int | None], data_addr, func_pc):
    """One operand in ISA terms. `data_addr(name)` and `func_pc(name)` raise on unknown names."""
    if isinstance(arg, Addr):
        return Imm((data_addr(arg.name) + arg.off) & MASK64)
    if isinstance(arg, SymMem):
        return Mem(arg.base, data_addr(arg.name) + arg.off)
    if isinstance(arg, Jump):
        return Label(base_pc + label_pos[arg.label], f".L{arg.label}")
    if isinstance(arg, FuncRef):
        return Label(func_pc(arg.name), arg.name)
    assert isinstance(arg, (Reg, Imm, Mem)) or hasattr(arg, "text") or hasattr(arg, "id"), arg
    return arg
