"""herd's x86 dialect, translated to the simulator's instructions (one or a few per x86 one).

    MOV  reg,$imm | reg,reg | reg,[x] | [x],$imm | [x],reg      mov / ld / st (a plain store goes
                                                                through the store buffer under tso)
    MFENCE                                                      fence
    LFENCE, SFENCE                                              nop (no-ops under x86-TSO)
    XCHG [x],reg  (always locked on x86)                        xchg
    LOCK ADD [x],v | LOCK INC [x] | LOCK DEC [x]                xadd (the old value is discarded)
    LOCK XADD [x],reg                                           xadd
    LOCK CMPXCHG [x],reg  (compares EAX)                        cas, then ZF and EAX
    ADD/XOR/OR reg|[x],v ; INC/DEC reg|[x]   (not locked)       ld, op, st (three steps: not atomic)
    CMP reg|[x],v ; JE L ; JNE L ; JMP L ; L: (labels)          ZF is kept in a register

Memory operands are `[x]` (a location) or `[REG]`/`(REG)` (a register holding an address).
Registers map to r0..r11 per thread in order of first use; r12 holds a value that is zero exactly
when ZF is set, r13 is scratch. Everything else is one LitmusError naming the construct and its
file:line:col.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import LitmusError
from ..isa import MASK64, Imm, Label, Mem, Reg
from .parse import X86_REGISTERS, Cell

ZF_REG = 12  # zero exactly when the last CMP/arithmetic/CMPXCHG set ZF
TMP_REG = 13
MAX_REGS = 12
INSTRUCTIONS = frozenset("MOV MOVL MOVQ MFENCE LFENCE SFENCE XCHG ADD XOR OR INC DEC XADD CMPXCHG CMP JE JNE JMP".split())


@dataclass(frozen=True)
class Op:
    """One simulator instruction: op name and operands; a branch target is a label name (str)
    until `resolve` turns it into a Label."""

    op: str
    args: tuple
    cell: Cell


class ThreadCode:
    """One thread's translation: its instructions, labels and register numbers."""

    def __init__(self, proc: int, file: str, regs: dict[str, int], address_of):
        self.proc = proc
        self.file = file
        self.regs = regs  # canonical x86 name -> simulator register
        self.address_of = address_of  # location name -> address (allocating it)
        self.ops: list[Op] = []
        self.labels: dict[str, int] = {}  # label -> index into ops
        self.targets: list[tuple[str, Cell]] = []

    def fail(self, cell: Cell, message: str, col: int | None = None):
        raise LitmusError(message, self.file, cell.line, col if col is not None else cell.col)

    def reg(self, name: str, cell: Cell) -> int:
        canonical = name.upper()
        if canonical not in X86_REGISTERS:
            self.fail(cell, f"{name!r} is not an x86 register")
        n = self.regs.get(canonical)
        if n is None:
            if len(self.regs) >= MAX_REGS:
                self.fail(cell, f"thread P{self.proc} uses more than {MAX_REGS} registers")
            n = self.regs[canonical] = len(self.regs)
        return n

    # -- operands

    def operand(self, text: str, cell: Cell):
        """Reg, Imm or Mem for one operand's text."""
        t = text.strip()
        m = re.fullmatch(r"\$?(-?(?:0[xX][0-9a-fA-F]+|\d+))", t)
        if m:
            return Imm(int(m.group(1), 0) & MASK64)
        m = re.fullmatch(r"\[\s*([A-Za-z_]\w*)\s*\]|\(\s*([A-Za-z_]\w*)\s*\)", t)
        if m:
            name = m.group(1) or m.group(2)
            if name.upper() in X86_REGISTERS:
                return Mem(self.reg(name, cell), 0)
            if m.group(2):
                self.fail(cell, f"'({name})' dereferences a register; write [{name}] for a location")
            return Mem(None, self.address_of(name))
        if re.fullmatch(r"[A-Za-z_]\w*", t) and t.upper() in X86_REGISTERS:
            return Reg(self.reg(t, cell))
        if t.startswith("[") or t.startswith("("):
            self.fail(cell, f"unsupported memory operand {t!r} (only [x] and [REG] are)")
        self.fail(cell, f"unsupported operand {t!r} (registers, $immediates, [x] and [REG] are)")

    def emit(self, cell: Cell, op: str, *args) -> None:
        self.ops.append(Op(op, args, cell))

    # -- instructions

    def instruction(self, cell: Cell) -> None:
        text = cell.text
        m = re.match(r"([A-Za-z_]\w*)\s*:\s*", text)
        if m and m.group(1).upper() not in ("LOCK",):
            label = m.group(1)
            if label in self.labels:
                self.fail(cell, f"duplicate label {label!r} in thread P{self.proc}")
            self.labels[label] = len(self.ops)
            text = text[m.end():]
            if not text.strip():
                return
            cell = Cell(text.strip(), cell.line, cell.col + m.end())
            text = cell.text
        words = text.split(None, 1)
        mnemonic = words[0].upper()
        rest = words[1] if len(words) > 1 else ""
        locked = False
        if mnemonic == "LOCK":
            locked = True
            words = rest.lstrip(" ;").split(None, 1)
            if not words:
                self.fail(cell, "LOCK without an instruction")
            mnemonic = words[0].upper()
            rest = words[1] if len(words) > 1 else ""
        args = [a for a in (x.strip() for x in rest.split(",")) if a] if rest.strip() else []
        if mnemonic not in INSTRUCTIONS:
            self.fail(cell, f"unsupported x86 instruction {words[0]!r}")
        handler = getattr(self, "_" + mnemonic.lower())
        arity = handler.__code__.co_argcount - 3
        if len(args) != arity:
            self.fail(cell, f"{mnemonic} takes {arity} operand{'s' if arity != 1 else ''}, got {len(args)}")
        handler(cell, locked, *args)

    def _not_locked(self, cell: Cell, locked: bool, mnemonic: str) -> None:
        if locked:
            self.fail(cell, f"LOCK {mnemonic} is not a lockable instruction")

    def _mov(self, cell, locked, dst, src):
        self._not_locked(cell, locked, "MOV")
        d, s = self.operand(dst, cell), self.operand(src, cell)
        if isinstance(d, Imm):
            self.fail(cell, "MOV to an immediate")
        if isinstance(d, Mem) and isinstance(s, Mem):
            self.fail(cell, "MOV from memory to memory is not an x86 instruction")
        if isinstance(d, Reg):
            if isinstance(s, Mem):
                self.emit(cell, "ld", d, s)
            else:
                self.emit(cell, "mov", d, s)
        else:
            self.emit(cell, "st", d, s)

    _movl = _movq = _mov

    def _mfence(self, cell, locked):
        self._not_locked(cell, locked, "MFENCE")
        self.emit(cell, "fence")

    def _lfence(self, cell, locked):  # x86-TSO: loads are not reordered with loads anyway
        self._not_locked(cell, locked, "LFENCE")
        self.emit(cell, "nop")

    def _sfence(self, cell, locked):  # x86-TSO: the store buffer is FIFO, stores stay in order
        self._not_locked(cell, locked, "SFENCE")
        self.emit(cell, "nop")

    def _xchg(self, cell, locked, a, b):
        x, y = self.operand(a, cell), self.operand(b, cell)
        if isinstance(x, Reg) and isinstance(y, Mem):
            x, y = y, x
        if isinstance(x, Mem) and isinstance(y, Reg):
            self.emit(cell, "xchg", y, x, y)  # implicitly locked: drains the buffer, atomic
        elif isinstance(x, Reg) and isinstance(y, Reg):
            self.emit(cell, "mov", Reg(TMP_REG), x)
            self.emit(cell, "mov", x, y)
            self.emit(cell, "mov", y, Reg(TMP_REG))
        else:
            self.fail(cell, "XCHG needs a register and a register or memory operand")

    def _arith(self, cell, locked, mnemonic, dst, value):
        """ADD/XOR/OR/INC/DEC: `value` is an operand (Imm or Reg)."""
        op = {"ADD": "add", "INC": "add", "DEC": "sub", "XOR": "xor", "OR": "or"}[mnemonic]
        d = self.operand(dst, cell)
        if isinstance(value, Mem):
            self.fail(cell, f"{mnemonic} with two memory operands is not an x86 instruction")
        if isinstance(d, Reg):
            self._not_locked(cell, locked, f"{mnemonic} on a register")
            self.emit(cell, op, d, d, value)
            self.emit(cell, "mov", Reg(ZF_REG), d)
        elif isinstance(d, Mem):
            if locked:
                if op in ("xor", "or"):
                    self.fail(cell, f"LOCK {mnemonic} cannot be expressed (locked add, inc, dec, xadd, "
                                    "xchg and cmpxchg can)")
                if op == "sub":
                    value = Imm(-value.value & MASK64)
                self.emit(cell, "xadd", Reg(TMP_REG), d, value)  # locked: drains, atomic
                self.emit(cell, "add", Reg(ZF_REG), Reg(TMP_REG), value)
            else:  # an unlocked read-modify-write is a load and a store: another core can interleave
                self.emit(cell, "ld", Reg(TMP_REG), d)
                self.emit(cell, op, Reg(TMP_REG), Reg(TMP_REG), value)
                self.emit(cell, "st", d, Reg(TMP_REG))
                self.emit(cell, "mov", Reg(ZF_REG), Reg(TMP_REG))
        else:
            self.fail(cell, f"{mnemonic} to an immediate")

    def _add(self, cell, locked, dst, src):
        self._arith(cell, locked, "ADD", dst, self.operand(src, cell))

    def _xor(self, cell, locked, dst, src):
        self._arith(cell, locked, "XOR", dst, self.operand(src, cell))

    def _or(self, cell, locked, dst, src):
        self._arith(cell, locked, "OR", dst, self.operand(src, cell))

    def _inc(self, cell, locked, dst):
        self._arith(cell, locked, "INC", dst, Imm(1))

    def _dec(self, cell, locked, dst):
        self._arith(cell, locked, "DEC", dst, Imm(1))

    def _xadd(self, cell, locked, dst, src):
        d, s = self.operand(dst, cell), self.operand(src, cell)
        if not (isinstance(d, Mem) and isinstance(s, Reg)):
            self.fail(cell, "XADD is supported as LOCK XADD [x],REG")
        if not locked:
            self.fail(cell, "XADD without LOCK is not atomic; write LOCK XADD")
        self.emit(cell, "mov", Reg(TMP_REG), s)
        self.emit(cell, "xadd", s, d, s)  # s = old, mem = old + s
        self.emit(cell, "add", Reg(ZF_REG), s, Reg(TMP_REG))

    def _cmpxchg(self, cell, locked, dst, src):
        d, s = self.operand(dst, cell), self.operand(src, cell)
        if not (isinstance(d, Mem) and isinstance(s, Reg)):
            self.fail(cell, "CMPXCHG is supported as LOCK CMPXCHG [x],REG")
        if not locked:
            self.fail(cell, "CMPXCHG without LOCK is not atomic; write LOCK CMPXCHG")
        eax = Reg(self.reg("EAX", cell))
        self.emit(cell, "cas", Reg(TMP_REG), d, eax, s)  # if [x] == EAX: [x] = src
        self.emit(cell, "sub", Reg(ZF_REG), Reg(TMP_REG), eax)  # ZF: they were equal
        self.emit(cell, "mov", eax, Reg(TMP_REG))  # EAX = old value (unchanged when equal)

    def _cmp(self, cell, locked, a, b):
        self._not_locked(cell, locked, "CMP")
        x, y = self.operand(a, cell), self.operand(b, cell)
        if isinstance(x, Mem) and isinstance(y, Mem):
            self.fail(cell, "CMP with two memory operands is not an x86 instruction")
        if isinstance(x, Imm):
            self.fail(cell, "CMP's first operand must be a register or memory")
        if isinstance(x, Mem):
            self.emit(cell, "ld", Reg(TMP_REG), x)
            x = Reg(TMP_REG)
        if isinstance(y, Mem):
            self.emit(cell, "ld", Reg(TMP_REG), y)
            y = Reg(TMP_REG)
        self.emit(cell, "sub", Reg(ZF_REG), x, y)

    def _jump(self, cell, op, target):
        if not re.fullmatch(r"[A-Za-z_]\w*", target):
            self.fail(cell, f"expected a label, got {target!r}")
        self.targets.append((target, cell))
        if op == "jmp":
            self.emit(cell, "jmp", target)
        else:
            self.emit(cell, op, Reg(ZF_REG), target)

    def _je(self, cell, locked, target):
        self._not_locked(cell, locked, "JE")
        self._jump(cell, "jz", target)

    def _jne(self, cell, locked, target):
        self._not_locked(cell, locked, "JNE")
        self._jump(cell, "jnz", target)

    def _jmp(self, cell, locked, target):
        self._not_locked(cell, locked, "JMP")
        self._jump(cell, "jmp", target)

    def check_labels(self) -> None:
        for name, cell in self.targets:
            if name not in self.labels:
                self.fail(cell, f"no label {name!r} in thread P{self.proc}")


def translate_thread(proc: int, cells: list[Cell], file: str, regs: dict[str, int], address_of) -> ThreadCode:
    code = ThreadCode(proc, file, regs, address_of)
    for cell in cells:
        code.instruction(cell)
    code.check_labels()
    return code


def resolve(op: Op, base: int, labels: dict[str, int]):
    """The operands with label names turned into Labels at absolute pcs (`base` is the thread's
    first pc; a label after the last instruction points at the thread's final `halt`)."""
    out = []
    for a in op.args:
        if isinstance(a, str):
            out.append(Label(base + labels[a], a))
        else:
            out.append(a)
    return tuple(out)
