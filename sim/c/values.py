"""What the code generator passes around: variables, values (where a result is) and lvalues."""

from __future__ import annotations

from dataclasses import dataclass

from ..isa import Imm, Mem, Reg
from .ctype import CType
from .emitter import Addr, SymMem


@dataclass(eq=False)
class Var:
    name: str
    type: CType
    reg: int | None = None  # a register local
    slot: int | None = None  # a local in the thread's stack frame: [sp + slot]
    symbol: str | None = None  # a global, or a static local
    is_param: bool = False


@dataclass(eq=False)
class Val:
    """An rvalue: in a register (`owned` if it is a temporary to free) or a constant."""

    type: CType
    reg: int | None = None
    imm: int | Addr | None = None
    owned: bool = False

    @property
    def operand(self):
        if self.reg is not None:
            return Reg(self.reg)
        if isinstance(self.imm, Addr):
            return self.imm
        return Imm(self.imm)

    @property
    def is_const(self) -> bool:
        return self.reg is None and not isinstance(self.imm, Addr)


@dataclass(eq=False)
class LVal:
    """An lvalue: a register variable, or memory at [base + sym + off]."""

    type: CType
    reg: int | None = None
    base: int | None = None
    sym: str | None = None
    off: int = 0
    owned: bool = False  # base is a temporary to free
    var: Var | None = None

    @property
    def mem(self):
        if self.sym is not None:
            return SymMem(self.base, self.sym, self.off)
        return Mem(self.base, self.off)
