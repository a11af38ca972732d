"""Data and constants: the one global layout, the directives that define data, constants,
bits and structs (.word .array .object .struct .field .ends .equ .bit, and .include), and the
names that expressions may use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..expr import evaluate
from ..isa import NUM_REGS, REG_ALIASES
from ..lexer import NAME, STRING, LineError, Token, tokenize
from ..program import Symbol
from .source_line import REGISTERS, Arg, Where, count, is_punct, no_junk, split_args, suggest

DIRECTIVES = (".equ", ".bit", ".struct", ".field", ".ends", ".object", ".word", ".array", ".include",
              ".macro", ".endm")
# Limits that keep a typo such as `.array buf, 0x10000000000` from exhausting memory.
MAX_ARRAY_WORDS = 1 << 16
MAX_DATA_WORDS = 1 << 20
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class _Struct:
    name: str
    where: Where
    col: int
    fields: dict[str, int | None] = field(default_factory=dict)  # name -> elements, None: scalar
    field_where: dict[str, Where] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(1 if n is None else n for n in self.fields.values())


@dataclass(frozen=True, slots=True)
class _DataName:
    """A name usable in expressions for data: an object, a field, a word or an array."""

    addr: int
    length: int | None  # number of elements if the name may be indexed as name[i]
    machine: str



@dataclass(frozen=True, slots=True)
class _ConstantOrigin:
    value: int
    machine: str
    loc: str


class _Layout:
    """The one global data layout: consecutive words from data_base, shared by all machines."""

    def __init__(self, base: int):
        self.base = base
        self.next = base
        self.symbols: list[Symbol] = []
        self.names: dict[str, _DataName] = {}
        self.objects: dict[str, tuple[str, str]] = {}  # object name -> (machine, 'file:line')

    def allocate(self, words: int, col: int) -> int:
        if self.next - self.base + words > MAX_DATA_WORDS:
            raise LineError(f"data too large: at most {MAX_DATA_WORDS} words in all", col)
        addr = self.next
        self.next += words
        return addr

    def word(self, machine: str, name: str, obj: str, fld: str, addr: int) -> None:
        self.symbols.append(Symbol(name, addr, obj, fld, 1, machine))

    def name(self, machine: str, name: str, addr: int, length: int | None = None) -> None:
        self.names[name] = _DataName(addr, length, machine)



class DataDirectives:
    """The data part of sim.assembler's _Machine."""

    def _directive(self, head: Token, raw: str, tokens: list[Token], where: Where) -> None:
        if head.text == ".macro":  # parameters may be separated by blanks: not comma-split
            return self._macro(head, tokens, where)
        handler = {
            ".equ": self._equ, ".bit": self._bit, ".struct": self._struct, ".field": self._field,
            ".ends": self._ends, ".object": self._object, ".word": self._word, ".array": self._array,
            ".include": self._include,
        }.get(head.text)
        if handler is None:
            if head.text == ".endm":
                raise LineError(".endm without .macro", head.col)
            raise LineError(f"unknown directive '{head.text}'" + suggest(head.text, DIRECTIVES), head.col)
        handler(head, split_args(raw, tokens), where)

    @staticmethod
    def _arity(head: Token, args: list[Arg], usage: str, lo: int, hi: int | None) -> None:
        if lo <= len(args) and (hi is None or len(args) <= hi):
            return
        if hi == lo:
            expected = count(lo)
        elif hi is None:
            expected = f"{lo} or more operands"
        else:
            expected = f"{lo} or {hi} operands"
        raise LineError(f"expected {expected} ({usage}) for {head.text}, got {len(args)}", head.col)

    @staticmethod
    def _name_arg(arg: Arg, what: str = "a name") -> Token:
        tok = arg.tokens[0]
        if tok.kind != NAME:
            raise LineError(f"expected {what}, got '{arg.text}'", arg.col)
        no_junk(arg, 1, what.removeprefix("a "))
        return tok

    def _eval(self, arg: Arg) -> int:
        return evaluate(arg.tokens, self._resolve, col=arg.col)

    def _size(self, arg: Arg, what: str) -> int:
        n = self._eval(arg)
        if not 1 <= n <= MAX_ARRAY_WORDS:
            raise LineError(f"{what} must be 1..{MAX_ARRAY_WORDS}, got {n}", arg.col)
        return n

    def _claim(self, tok: Token, *, data: bool) -> None:
        """Check that `tok` may name a new constant or data object."""
        name = tok.text
        if not _IDENT.fullmatch(name):
            raise LineError(f"invalid name '{name}' (use letters, digits and '_')", tok.col)
        if name in REGISTERS:
            raise LineError(f"'{name}' is a register name", tok.col)
        first = None
        if name in self.defined:
            first = self.defined[name]
        elif name in self.asm.layout.objects:
            machine, loc = self.asm.layout.objects[name]
            first = f"first defined at {loc}" + (f" on machine {machine}" if machine != self.name else "")
        elif name in self.asm.ports:
            first = "a port of the scenario"
        elif data and name in self.asm.constants:  # constants of other machines share the image
            origin = self.asm.constants[name]
            first = f"a constant on machine {origin.machine}, defined at {origin.loc}"
        if first is not None:
            raise LineError(f"duplicate name '{name}' ({first})", tok.col)

    def _define_constant(self, tok: Token, value: int, where: Where) -> None:
        self._claim(tok, data=False)
        name = tok.text
        origin = self.asm.constants.get(name)
        if origin is not None and origin.value != value:
            # Image.constants has one value per name, so machines must agree on shared names.
            raise LineError(f"constant '{name}' = {value} conflicts with {name} = {origin.value} on "
                            f"machine {origin.machine} (defined at {origin.loc})", tok.col)
        self.asm.constants.setdefault(name, _ConstantOrigin(value, self.name, where.loc))
        self.constants[name] = value
        self.defined[name] = f"first defined at {where.loc}"

    def _equ(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME, VALUE", 2, 2)
        self._define_constant(self._name_arg(args[0]), self._eval(args[1]), where)

    def _bit(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME, BIT", 2, 2)
        tok = self._name_arg(args[0])
        value = self._eval(args[1])
        if value > 63:
            raise LineError(f"bit number {value} is out of range (0..63)", args[1].col)
        self._define_constant(tok, value, where)
        self.bits[tok.text] = value

    def _struct(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME", 1, 1)
        tok = self._name_arg(args[0], "a struct name")
        if not _IDENT.fullmatch(tok.text):
            raise LineError(f"invalid struct name '{tok.text}'", tok.col)
        if tok.text in self.structs:
            raise LineError(f"duplicate struct '{tok.text}' (first defined at "
                            f"{self.structs[tok.text].where.loc})", tok.col)
        self.struct = _Struct(tok.text, where, head.col)

    def _field(self, head: Token, args: list[Arg], where: Where) -> None:
        if self.struct is None:
            raise LineError(".field outside .struct", head.col)
        self._arity(head, args, "NAME[, ELEMENTS]", 1, 2)
        tok = self._name_arg(args[0], "a field name")
        if not _IDENT.fullmatch(tok.text):
            raise LineError(f"invalid field name '{tok.text}'", tok.col)
        if tok.text in self.struct.fields:
            raise LineError(f"duplicate field '{tok.text}' in struct {self.struct.name} (first defined "
                            f"at {self.struct.field_where[tok.text].loc})", tok.col)
        self.struct.fields[tok.text] = self._size(args[1], "array field length") if len(args) == 2 else None
        self.struct.field_where[tok.text] = where

    def _ends(self, head: Token, args: list[Arg], where: Where) -> None:
        if self.struct is None:
            raise LineError(".ends without .struct", head.col)
        self._arity(head, args, "nothing", 0, 0)
        if not self.struct.fields:
            raise LineError(f"struct {self.struct.name} has no fields", head.col)
        self.structs[self.struct.name] = self.struct
        self.struct = None

    def _object(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME, STRUCT, field=value...", 2, None)
        tok = self._name_arg(args[0])
        self._claim(tok, data=True)
        stok = self._name_arg(args[1], "a struct name")
        struct = self.structs.get(stok.text)
        if struct is None:
            raise LineError(f"unknown struct '{stok.text}'" + suggest(stok.text, self.structs), stok.col)
        inits: dict[str, Arg] = {}
        for arg in args[2:]:
            t = arg.tokens
            if len(t) < 3 or t[0].kind != NAME or not is_punct(t[1], "="):
                raise LineError(f"expected field=value, got '{arg.text}'", arg.col)
            if t[0].text not in struct.fields:
                raise LineError(f"unknown field '{t[0].text}' in struct {struct.name}"
                                + suggest(t[0].text, struct.fields), t[0].col)
            if t[0].text in inits:
                raise LineError(f"field '{t[0].text}' is initialized twice", t[0].col)
            inits[t[0].text] = Arg(t[2:], arg.text[t[2].col - arg.col:], t[2].col)
        obj, layout = tok.text, self.asm.layout
        addr = layout.allocate(struct.size, tok.col)
        layout.objects[obj] = (self.name, where.loc)
        layout.name(self.name, obj, addr)
        for fld, length in struct.fields.items():
            name = f"{obj}.{fld}"
            layout.name(self.name, name, addr, length)
            if length is None:
                layout.word(self.name, name, obj, fld, addr)
            else:
                for i in range(length):
                    layout.word(self.name, f"{name}[{i}]", obj, f"{fld}[{i}]", addr + i)
            words = range(addr, addr + (1 if length is None else length))
            if fld in inits:  # every element of an array field gets the value
                self.initializers.append((words, inits[fld], where))
            addr = words.stop

    def _word(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME[, VALUE]", 1, 2)
        tok = self._name_arg(args[0])
        self._claim(tok, data=True)
        layout = self.asm.layout
        addr = layout.allocate(1, tok.col)
        layout.objects[tok.text] = (self.name, where.loc)
        layout.name(self.name, tok.text, addr)
        layout.word(self.name, tok.text, tok.text, "", addr)
        if len(args) == 2:
            self.initializers.append((range(addr, addr + 1), args[1], where))

    def _array(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, "NAME, LENGTH[, VALUE]", 2, 3)
        tok = self._name_arg(args[0])
        self._claim(tok, data=True)
        length = self._size(args[1], "array length")
        layout = self.asm.layout
        addr = layout.allocate(length, tok.col)
        layout.objects[tok.text] = (self.name, where.loc)
        layout.name(self.name, tok.text, addr, length)
        for i in range(length):
            layout.word(self.name, f"{tok.text}[{i}]", tok.text, f"[{i}]", addr + i)
        if len(args) == 3:
            self.initializers.append((range(addr, addr + length), args[2], where))

    def _include(self, head: Token, args: list[Arg], where: Where) -> None:
        self._arity(head, args, '"FILE"', 1, 1)
        tok = args[0].tokens[0]
        if tok.kind != STRING:
            raise LineError(f"expected a file name in double quotes, got '{args[0].text}'", args[0].col)
        no_junk(args[0], 1, "file name")
        source = self.asm.files.include(tok.value, self.file_stack[-1].folders, tok.col)  # type: ignore[arg-type]
        keys = [s.key for s in self.file_stack]
        if source.key in keys:
            chain = [s.display for s in self.file_stack[keys.index(source.key):]] + [source.display]
            raise LineError(f"include cycle: {' -> '.join(chain)}", tok.col)
        self._file(source)

    # -- names in expressions -----------------------------------------------------------------

    def _resolve(self, tok: Token, index: int | None) -> int:
        name = tok.text
        if name in self.constants:
            if index is not None:
                raise LineError(f"'{name}' is a constant, not an array", tok.col)
            return self.constants[name]
        data = self.asm.layout.names.get(name)
        if data is not None and data.machine == self.name:
            if index is None:
                return data.addr
            if data.length is None:
                raise LineError(f"'{name}' is not an array", tok.col)
            if index >= data.length:
                raise LineError(f"index {index} is out of range for '{name}' ({data.length} elements)",
                                tok.col)
            return data.addr + index
        if name in self.asm.ports:
            if index is not None:
                raise LineError(f"port '{name}' is not an array", tok.col)
            return self.asm.ports[name]
        if name in REGISTERS:
            raise LineError(f"register '{name}' cannot be used inside an expression", tok.col)
        if data is not None:
            raise LineError(f"'{name}' is data of machine {data.machine}; a machine can only name "
                            "its own data", tok.col)
        offset = self._field_offset(name, index, tok)
        if offset is not None:
            return offset
        if name in self.out.labels:
            raise LineError(f"'{name}' is a code label, not a value", tok.col)
        owners = sorted(s.name for s in self.structs.values() if name in s.fields)
        if owners:  # a bare field name: its offset is spelled with the struct type
            raise LineError(f"unknown constant or symbol '{name}'; '{name}' is a field of struct "
                            f"{' and '.join(owners)}: its offset is {owners[0]}.{name} "
                            f"(an object's field address is its symbol, e.g. obj.{name})", tok.col)
        names = [*self.constants, *self.asm.ports,
                 *(n for n, d in self.asm.layout.names.items() if d.machine == self.name)]
        hint = suggest(name, names)
        if not hint and re.fullmatch(r"r[0-9]+", name):
            hint = f" (the registers are r0..r{NUM_REGS - 1}, {', '.join(REG_ALIASES)})"
        raise LineError(f"unknown constant or symbol '{name}'{hint}", tok.col)

    def _field_offset(self, name: str, index: int | None, tok: Token) -> int | None:
        """`page.flags`, a struct type and one of its fields: the field's offset in words (for
        `[r1 + page.flags]` with r1 an object's address); `page.data[1]` adds the element."""
        sname, dot, fname = name.partition(".")
        struct = self.structs.get(sname) if dot else None
        if struct is None or fname not in struct.fields:
            if struct is not None:
                raise LineError(f"struct {sname} has no field '{fname}'{suggest(fname, struct.fields)}", tok.col)
            return None
        offset = 0
        for f, n in struct.fields.items():
            if f == fname:
                break
            offset += 1 if n is None else n
        length = struct.fields[fname]
        if index is None:
            return offset
        if length is None:
            raise LineError(f"field '{fname}' of struct {sname} is not an array", tok.col)
        if index >= length:
            raise LineError(f"index {index} is out of range for '{name}' ({length} elements)", tok.col)
        return offset + index

    def value_of(self, text: str) -> int:
        """A constant expression from outside the sources (a thread's initial register)."""
        return evaluate(tokenize(text), self._resolve, col=1)
