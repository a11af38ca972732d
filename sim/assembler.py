"""The assembler: kernel-style assembly sources -> a decoded `sim.program.Image`.

Two passes:
  pass 1 reads each machine's sources line by line (following .include and expanding macros as
         it goes), records labels at pcs, defines constants and structs, allocates data objects in
         the one global layout, and queues every instruction with its operand tokens;
  pass 2 runs after every machine's pass 1, when every label and data address is known: it
         encodes the queued operands (sim.isa signatures), builds the Sites and evaluates the data
         initializers.
So instruction operands and data initializers may refer forward, while whatever shapes the layout
(.equ and .bit values, array sizes) must use names defined earlier.

Each machine has its own code, labels, constants, structs and macros (a shared header is
assembled once per machine that includes it); data names are global, because all machines share
one address space in which every word belongs to exactly one machine. Every malformed input
raises `AsmError(message, file, line, col)`; helpers below raise `LineError(message, col)` and the
line loop adds the file and line.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AsmError
from .expr import evaluate
from .isa import (
    MASK64,
    MAX_PAYLOAD,
    NUM_REGS,
    OPS,
    REG_ALIASES,
    Imm,
    Label,
    Mem,
    Operand,
    OpSpec,
    Port,
    Reg,
    Str,
)
from .lexer import NAME, PUNCT, STRING, LineError, Token, strip_comment, tokenize
from .program import Image, Instr, MachineCode, Site, Symbol

__all__ = ["assemble", "assemble_text"]

REGISTERS: dict[str, int] = {f"r{n}": n for n in range(NUM_REGS)} | REG_ALIASES
DIRECTIVES = (".equ", ".bit", ".struct", ".field", ".ends", ".object", ".word", ".array", ".include",
              ".macro", ".endm")
MACRO_DEPTH_LIMIT = 32
# Limits that keep a typo such as `.array buf, 0x10000000000` from exhausting memory.
MAX_ARRAY_WORDS = 1 << 16
MAX_DATA_WORDS = 1 << 20

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCAL_LABEL = re.compile(r"\.[A-Za-z0-9_]+")
_FIRST_WORD = re.compile(r"\s*(\.?[A-Za-z_][A-Za-z0-9_]*)")


# ---------------------------------------------------------------------------------------------
# Small helpers


def suggest(name: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest candidates, or ''."""
    matches = difflib.get_close_matches(name, list(candidates), n=3)
    if not matches:
        return ""
    quoted = [f"'{m}'" for m in matches]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"; did you mean {listed}?"


def _count(n: int) -> str:
    return "no operands" if n == 0 else "1 operand" if n == 1 else f"{n} operands"


def _is(tok: Token, punct: str) -> bool:
    return tok.kind == PUNCT and tok.text == punct


@dataclass(frozen=True, slots=True)
class Where:
    """The source line being assembled, for Sites and error messages.

    Lines produced by a macro expansion keep the invocation's file, line, text and column (`col`),
    so that Sites and errors point at code the user wrote; `macros` is the expansion chain
    (outermost first) and `body` the 'file:line' of the macro line being expanded.
    """

    file: str
    line: int
    text: str
    col: int | None = None
    macros: tuple[str, ...] = ()
    body: str = ""

    def error(self, message: str, col: int | None = None) -> AsmError:
        if not self.macros:
            return AsmError(message, self.file, self.line, col)
        names = self.macros
        if len(names) > 6:  # runaway recursion: the ends of the chain say enough
            names = (*names[:3], "...", *names[-2:])
        chain = " -> ".join(names)
        return AsmError(f"in expansion of macro {chain}: {message} (macro line {self.body})",
                        self.file, self.line, self.col)

    @property
    def loc(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Arg:
    """One comma-separated operand: its tokens, its source text and column."""

    tokens: tuple[Token, ...]
    text: str
    col: int


def split_args(line: str, tokens: Sequence[Token]) -> list[Arg]:
    """Split operand tokens on commas that are not inside () or []."""
    args: list[Arg] = []
    current: list[Token] = []
    depth = 0
    for tok in tokens:
        if tok.kind == PUNCT:
            if tok.text in ("(", "["):
                depth += 1
            elif tok.text in (")", "]"):
                depth = max(0, depth - 1)
            elif tok.text == "," and depth == 0:
                if not current:
                    raise LineError("missing operand before ','", tok.col)
                args.append(_arg(line, current))
                current = []
                continue
        current.append(tok)
    if current:
        args.append(_arg(line, current))
    elif args:
        raise LineError("missing operand after ','", tokens[-1].col)
    return args


def _arg(line: str, tokens: list[Token]) -> Arg:
    return Arg(tuple(tokens), line[tokens[0].col - 1:tokens[-1].end], tokens[0].col)


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _norm(name: str | Path) -> str:
    return posixpath.normpath(str(name).replace("\\", "/"))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return path.absolute()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Files: sources, includes, substitutions and display paths


@dataclass(frozen=True, slots=True)
class _Source:
    display: str  # the path shown in Sites and errors
    key: str  # identity for include-once and cycle detection (the resolved path)
    folders: tuple[Path, ...]  # where this file's own .include names are looked up first
    text: str


class _Files:
    """Opens source and include files; remembers the text of every file read."""

    def __init__(self, base_dir: Path | None, substitutions: Mapping[str, Path] | None,
                 lib_dirs: Iterable[Path]):
        self.base_root = _resolved(Path(base_dir)) if base_dir is not None else None
        self.lib_dirs = [Path(d) for d in lib_dirs]
        self.substitutions = {_norm(k): Path(v) for k, v in (substitutions or {}).items()}
        self.sources: dict[str, str] = {}

    def display(self, path: Path) -> str:
        """`path` relative to base_dir: below it, or with '..' when the two share a folder other
        than the root (a library next to the scenarios), so that names do not depend on where
        the project is checked out; else the path as given."""
        if self.base_root is None:
            return str(path)
        real = _resolved(path)
        try:
            return real.relative_to(self.base_root).as_posix()
        except ValueError:
            pass
        try:
            common = Path(os.path.commonpath([real, self.base_root]))
            if common != Path(common.anchor):
                return Path(os.path.relpath(real, self.base_root)).as_posix()
        except ValueError:  # different drives
            pass
        return str(path)

    def text(self, name: str, text: str) -> _Source:
        """An in-memory source (assemble_text): its includes are looked up from the cwd."""
        self.sources[name] = text
        return _Source(name, f"<text>{name}", (Path("."),), text)

    def source(self, path: Path) -> _Source:
        """A machine's source file, as listed by the scenario."""
        try:
            return self._load(path, str(path))
        except LineError as e:
            raise AsmError(e.message, self.display(path)) from None

    def include(self, name: str, folders: Sequence[Path], col: int) -> _Source:
        """The file named by `.include "name"` in a file that lives in `folders`."""
        dirs = list(dict.fromkeys([*folders, *self.lib_dirs]))
        found = next((d / name for d in dirs if _is_file(d / name)), None)
        if found is None and _norm(name) not in self.substitutions:
            looked = ", ".join(f"'{self.display(d)}'" for d in dirs)
            raise LineError(f"cannot find include file '{name}' (looked in {looked})", col)
        try:
            return self._load(found if found is not None else Path(name), name)
        except LineError as e:
            raise LineError(e.message, col) from None

    def _load(self, path: Path, written: str) -> _Source:
        display = self.display(path)
        # A variant replaces a file by the name it was written with, or its path under base_dir;
        # Sites then show the replacement's own path, so users see where the variant's code is.
        replacement = self.substitutions.get(_norm(written)) or self.substitutions.get(_norm(display))
        note = ""
        folders = (path.parent,)
        if replacement is not None:
            # The variant's includes resolve next to it first, then as the original's would.
            note = f" (substituted for '{display}')"
            folders = (replacement.parent, path.parent)
            path, display = replacement, self.display(replacement)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise LineError(f"cannot read '{display}'{note}: not UTF-8 text (byte {e.start})") from None
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise LineError(f"cannot read '{display}'{note}: {reason}") from None
        self.sources[display] = text
        return _Source(display, str(_resolved(path)), folders, text)


# ---------------------------------------------------------------------------------------------
# What pass 1 records


@dataclass(slots=True)
class _Macro:
    name: str
    params: tuple[str, ...]
    where: Where  # the .macro line
    col: int
    body: list[tuple[str, str]] = field(default_factory=list)  # ('file:line', text without comment)


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
class _Pending:
    """An instruction queued by pass 1 for pass 2."""

    op: str
    args: tuple[Arg, ...]
    where: Where
    col: int  # the mnemonic's column (the invocation's, for macro expansions)
    function: str


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


# ---------------------------------------------------------------------------------------------
# One machine


class _Machine:
    def __init__(self, name: str, asm: _Assembly):
        self.name = name
        self.asm = asm
        self.out = MachineCode(name)
        self.constants: dict[str, int] = dict(asm.predefined)
        self.defined: dict[str, str] = dict.fromkeys(asm.predefined, "predefined by the scenario")
        self.bits: dict[str, int] = {}
        self.structs: dict[str, _Struct] = {}
        self.macros: dict[str, _Macro] = {}
        self.pending: list[_Pending] = []
        self.initializers: list[tuple[range, Arg, Where]] = []
        # Labels: globals live in self.out.labels; locals are keyed 'function.name'.
        self.function: str | None = None
        self.locals: dict[str, int] = {}
        self.local_names: dict[str, list[str]] = {}
        self.label_where: dict[str, Where] = {}
        self.labels_at: dict[int, list[str]] = {}  # pc -> labels there, in definition order
        self.macro_labels: set[str] = set()  # labels written inside macro bodies
        # Pass-1 state
        self.struct: _Struct | None = None  # the .struct being defined
        self.recording: _Macro | None = None  # the .macro whose body is being read
        self.included: set[str] = set()
        self.file_stack: list[_Source] = []
        self.depth = 0  # macro expansion nesting
        # C translation units on this machine (sim.c): initial values, static helpers, frames
        self.c_initial: list[tuple[int, object]] = []
        self.c_statics: dict[tuple, str] = {}
        self.c_function_names: set[str] = set()
        self.c_locals: list[tuple] = []

    # -- pass 1: reading ----------------------------------------------------------------------

    def read(self, sources: Iterable[Path | _Source]) -> None:
        for src in sources:
            source = src if isinstance(src, _Source) else self.asm.files.source(Path(src))
            self.function = None  # each source file starts outside any function
            if source.display.endswith(".c") or str(src).endswith(".c"):
                self._c_file(source)
            else:
                self._file(source)

    def _c_file(self, source: _Source) -> None:
        from .c.link import Link
        from .c.unit import compile_unit
        link = Link(self)
        compile_unit(link, source.display, source.text, source.folders[0], link.display)

    def _file(self, source: _Source) -> None:
        if source.key in self.included:  # a second include is a no-op, like #pragma once
            return
        self.included.add(source.key)
        self.file_stack.append(source)
        for lineno, raw in enumerate(_lines(source.text), 1):
            where = Where(source.display, lineno, strip_comment(raw).strip())
            if self.recording is not None:
                self._record(raw, where)
            else:
                self._line(raw, where)
        # Definitions may not spill from one file into the file that included it.
        if self.recording is not None:
            m = self.recording
            raise m.where.error(f"unterminated .macro {m.name} (missing .endm before the end of "
                                f"{source.display})", m.col)
        if self.struct is not None:
            s = self.struct
            raise s.where.error(f"missing .ends for .struct {s.name} before the end of {source.display}",
                                s.col)
        self.file_stack.pop()

    def _record(self, raw: str, where: Where) -> None:
        """A line inside .macro ... .endm: kept as text, parsed only when expanded."""
        assert self.recording is not None
        m = _FIRST_WORD.match(where.text)
        word = m.group(1) if m else ""
        col = len(raw) - len(raw.lstrip()) + 1
        if word == ".endm":
            rest = where.text[len(word):].strip()
            if rest:
                raise where.error(f"unexpected '{rest}' after .endm", raw.index(rest, col - 1) + 1)
            self.macros[self.recording.name] = self.recording
            self.recording = None
        elif word == ".macro":
            r = self.recording
            raise where.error(f"nested .macro: macro {r.name} (started at {r.where.loc}) is not "
                              "closed with .endm", col)
        else:
            self.recording.body.append((where.loc, where.text))

    def _line(self, raw: str, where: Where) -> None:
        try:
            self._statement(raw, tokenize(raw), where)
        except LineError as e:
            raise where.error(e.message, e.col) from None

    def _statement(self, raw: str, tokens: list[Token], where: Where) -> None:
        i = 0
        while i + 1 < len(tokens) and tokens[i].kind == NAME and _is(tokens[i + 1], ":"):
            self._label(tokens[i], where)
            i += 2
        if i == len(tokens):
            return
        head, rest = tokens[i], tokens[i + 1:]
        if head.kind != NAME:
            raise LineError(f"expected an instruction, directive or label, got '{head.text}'", head.col)
        if self.struct is not None and head.text not in (".field", ".ends"):
            raise LineError(f"only .field may appear inside .struct {self.struct.name} "
                            "(close it with .ends)", head.col)
        if head.text.startswith("."):
            self._directive(head, raw, rest, where)
        elif head.text in OPS:
            if self.function is None:
                raise LineError("instruction outside a function (put a global label such as "
                                "'main:' before it)", head.col)
            col = where.col if where.col is not None else head.col
            self.pending.append(_Pending(head.text, tuple(split_args(raw, rest)), where, col, self.function))
        elif head.text in self.macros:
            self._expand(self.macros[head.text], head, split_args(raw, rest), where)
        else:
            raise LineError(f"unknown instruction or macro '{head.text}'"
                            + suggest(head.text, [*OPS, *self.macros]), head.col)

    def _label(self, tok: Token, where: Where) -> None:
        name, pc = tok.text, len(self.pending)
        if self.struct is not None:
            raise LineError(f"label '{name}' inside .struct {self.struct.name}", tok.col)
        if name.startswith("."):
            if not _LOCAL_LABEL.fullmatch(name):
                raise LineError(f"invalid local label '{name}'", tok.col)
            if self.function is None:
                raise LineError(f"local label '{name}' outside a function (put a global label "
                                "before it)", tok.col)
            key = self.function + name
            if key in self.locals:
                raise LineError(f"duplicate label '{name}' in function {self.function} (first defined "
                                f"at {self.label_where[key].loc})", tok.col)
            self.locals[key] = pc
            self.local_names.setdefault(self.function, []).append(name)
        else:
            if not _IDENT.fullmatch(name):
                raise LineError(f"invalid label '{name}' (use letters, digits and '_')", tok.col)
            key = name
            if key in self.out.labels:
                raise LineError(f"duplicate label '{name}' (first defined at "
                                f"{self.label_where[key].loc})", tok.col)
            self.out.labels[key] = pc
            self.function = name
        self.label_where[key] = where
        self.labels_at.setdefault(pc, []).append(key)
        if where.macros:
            self.macro_labels.add(key)

    # -- pass 1: macros -----------------------------------------------------------------------

    def _expand(self, macro: _Macro, head: Token, args: list[Arg], where: Where) -> None:
        if len(args) != len(macro.params):
            _missing_comma(args)
            params = ", ".join(macro.params) if macro.params else "no parameters"
            raise LineError(f"macro {macro.name} takes {len(macro.params)} argument"
                            f"{'' if len(macro.params) == 1 else 's'} ({params}), got {len(args)}",
                            head.col)
        if self.depth >= MACRO_DEPTH_LIMIT:
            raise LineError(f"macro expansion nested deeper than {MACRO_DEPTH_LIMIT} levels "
                            f"(is {macro.name} recursive?)", head.col)
        self.asm.expansions += 1
        unique = str(self.asm.expansions)
        values = dict(zip(macro.params, (a.text for a in args)))
        col = where.col if where.col is not None else head.col
        self.depth += 1
        try:
            for body_loc, text in macro.body:
                inner = Where(where.file, where.line, where.text, col, (*where.macros, macro.name), body_loc)
                try:
                    line = _substitute(text, values, unique, macro)
                except LineError as e:
                    raise inner.error(e.message) from None
                self._line(line, inner)
        finally:
            self.depth -= 1

    def _macro(self, head: Token, tokens: list[Token], where: Where) -> None:
        if where.macros:
            raise LineError(".macro inside a macro body", head.col)
        if not tokens:
            raise LineError("expected a macro name after .macro", head.col)
        name_tok = tokens[0]
        name = name_tok.text
        if name_tok.kind != NAME or not _IDENT.fullmatch(name):
            raise LineError(f"invalid macro name '{name}'", name_tok.col)
        if name in OPS:
            raise LineError(f"macro '{name}' would redefine the instruction '{name}'", name_tok.col)
        if name in self.macros:
            raise LineError(f"macro '{name}' is already defined (at {self.macros[name].where.loc})",
                            name_tok.col)
        params: list[str] = []
        want_name = True  # commas between parameters are optional, like in GNU as
        for tok in tokens[1:]:
            if _is(tok, ","):
                if want_name:
                    raise LineError("expected a parameter name before ','", tok.col)
                want_name = True
                continue
            if tok.kind != NAME or not _IDENT.fullmatch(tok.text):
                raise LineError(f"expected a parameter name, got '{tok.text}'", tok.col)
            if tok.text in params:
                raise LineError(f"duplicate macro parameter '{tok.text}'", tok.col)
            params.append(tok.text)
            want_name = False
        if len(tokens) > 1 and want_name:
            raise LineError("expected a parameter name after ','", tokens[-1].col)
        self.recording = _Macro(name, tuple(params), where, head.col)

    # -- pass 1: directives -------------------------------------------------------------------

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
            expected = _count(lo)
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
        _no_junk(arg, 1, what.removeprefix("a "))
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
            if len(t) < 3 or t[0].kind != NAME or not _is(t[1], "="):
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
        _no_junk(args[0], 1, "file name")
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

    # -- pass 2: encoding ---------------------------------------------------------------------

    def encode(self, sites: list[Site]) -> None:
        for pc, p in enumerate(self.pending):
            if not isinstance(p, _Pending):  # compiled C (sim.c.link.CPending)
                args, site = p.encode(self, pc)
                sites.append(site)
                self.out.code.append(Instr(p.ins.op, args, len(sites) - 1))
                continue
            try:
                args = self._operands(p)
            except LineError as e:
                raise p.where.error(e.message, e.col) from None
            sites.append(Site(self.name, pc, p.where.file, p.where.line, p.col, p.function,
                              self._site_label(pc, p.function), p.where.text))
            self.out.code.append(Instr(p.op, args, len(sites) - 1))
        for words, arg, where in self.initializers:
            try:
                value = self._eval(arg)
            except LineError as e:
                raise where.error(e.message, e.col) from None
            if value:
                self.out.initial.update(dict.fromkeys(words, value))
        if self.c_initial:
            from .c.link import resolve_initial
            resolve_initial(self)

    def _site_label(self, pc: int, function: str) -> str:
        """The label at exactly this pc: the function's own name if it starts here, else the
        first label written there, preferring the user's labels to macros' internal ones."""
        names = self.labels_at.get(pc, [])
        if function in names:
            return function
        ranked = sorted(names, key=lambda n: n in self.macro_labels)  # stable: keeps source order
        return ranked[0] if ranked else ""

    def _operands(self, p: _Pending) -> tuple[Operand, ...]:
        spec = OPS[p.op]
        args = p.args
        letters = _letters(spec, args, p.col)
        if len(letters) == len(args) + 1:  # two-operand form: `add r1, 5` is `add r1, r1, 5`
            args = (args[0], *args)
        return tuple(self._operand(letter, arg, p.function) for letter, arg in zip(letters, args))

    def _operand(self, letter: str, arg: Arg, function: str) -> Operand:
        if letter == "R":
            return Reg(_register(arg))
        if letter == "V":
            tok = arg.tokens[0]
            if tok.kind == NAME and tok.text in REGISTERS and len(arg.tokens) == 1:
                return Reg(REGISTERS[tok.text])
            return Imm(self._eval(arg) & MASK64)
        if letter == "M":
            return self._memory(arg)
        if letter == "L":
            return self._label_ref(arg, function)
        if letter == "P":
            return self._port(arg)
        assert letter == "S", letter
        tok = arg.tokens[0]
        if tok.kind != STRING:
            raise LineError(f"expected a string in double quotes, got '{arg.text}'", arg.col)
        _no_junk(arg, 1, "string")
        return Str(tok.value)  # type: ignore[arg-type]

    def _memory(self, arg: Arg) -> Mem:
        toks = arg.tokens
        if not _is(toks[0], "["):
            raise LineError(f"expected a memory operand in brackets such as [addr] or [r1 + 8], "
                            f"got '{arg.text}'", arg.col)
        depth, close = 0, None
        for i, tok in enumerate(toks):
            depth += _is(tok, "[") - _is(tok, "]")
            if depth == 0:
                close = i
                break
        if close is None:
            raise LineError("missing ']' at the end of the memory operand", toks[-1].end + 1)
        _no_junk(arg, close + 1, "memory operand")
        inner = toks[1:close]
        if not inner:
            raise LineError("empty memory operand '[]'", toks[0].col)

        def is_reg(tok: Token) -> bool:
            return tok.kind == NAME and tok.text in REGISTERS

        if is_reg(inner[0]):  # [reg], [reg + expr], [reg - expr]
            base = REGISTERS[inner[0].text]
            if len(inner) == 1:
                return Mem(base, 0)
            sign = inner[1]
            if not (_is(sign, "+") or _is(sign, "-")):
                raise LineError(f"expected '+' or '-' after the base register, got '{sign.text}'", sign.col)
            # The sign is kept as a unary operator so that [r1 - 4 + 2] means r1 + (-4 + 2).
            return Mem(base, evaluate(inner[1:], self._resolve, col=arg.col))
        if len(inner) >= 3 and is_reg(inner[-1]) and _is(inner[-2], "+"):  # [expr + reg]
            return Mem(REGISTERS[inner[-1].text], evaluate(inner[:-2], self._resolve, col=arg.col))
        return Mem(None, evaluate(inner, self._resolve, col=arg.col))

    def _label_ref(self, arg: Arg, function: str) -> Label:
        tok = arg.tokens[0]
        if tok.kind != NAME:
            raise LineError(f"expected a label, got '{arg.text}'", arg.col)
        _no_junk(arg, 1, "label")
        name = tok.text
        local_names = self.local_names.get(function, [])
        if name.startswith("."):  # local to the current function
            key = function + name
            if key in self.locals:
                return Label(self.locals[key], key)
            candidates = [*local_names, *self.out.labels]
        else:
            if name in self.out.labels:
                return Label(self.out.labels[name], name)
            if name in self.locals:  # a qualified local label such as nfs_flush.retry
                return Label(self.locals[name], name)
            candidates = [*self.out.labels, *local_names]
        hint = suggest(name, candidates)
        if not hint and (name in self.constants or name in self.asm.layout.names):
            hint = f" ('{name}' is a value, not a code label)"
        raise LineError(f"unknown label '{name}'{hint}", tok.col)

    def _port(self, arg: Arg) -> Port:
        tok = arg.tokens[0]
        if tok.kind != NAME:
            raise LineError(f"expected a port name, got '{arg.text}'", arg.col)
        _no_junk(arg, 1, "port name")
        ports = self.asm.ports
        if tok.text in ports:
            return Port(ports[tok.text], tok.text)
        hint = suggest(tok.text, ports) if ports else " (the scenario declares no ports)"
        raise LineError(f"unknown port '{tok.text}'{hint}", tok.col)


def _missing_comma(args: Sequence[Arg]) -> None:
    """After a wrong operand count: point at two operands written without a comma between."""
    for arg in args:
        for a, b in zip(arg.tokens, arg.tokens[1:]):
            if (a.kind != PUNCT or a.text in (")", "]")) and b.kind != PUNCT:
                raise LineError(f"unexpected '{b.text}' after '{a.text}' (missing ','?)", b.col)


def _letters(spec: OpSpec, args: Sequence[Arg], col: int) -> str:
    """The operand letters for the written operands, or a LineError saying what was expected."""
    n = len(args)
    sig = spec.signature
    if sig.endswith("*"):  # like a regex: `PV*` is a P then 0..MAX_PAYLOAD Vs
        fixed, repeated = sig[:-2], sig[-2]
        lo, hi = len(fixed), len(fixed) + MAX_PAYLOAD
        if lo <= n <= hi:
            return fixed + repeated * (n - lo)
        expected = f"{lo} to {hi} operands ({', '.join(fixed)}, {repeated}...)"
    else:
        if n == len(sig) or (spec.two_operand_form and n == len(sig) - 1):
            return sig
        expected = _count(len(sig)) + (f" ({', '.join(sig)})" if sig else "")
        if spec.two_operand_form:
            expected += f" or {len(sig) - 1} ({', '.join(sig[1:])})"
    _missing_comma(args)
    raise LineError(f"expected {expected} for {spec.name}, got {n}", col)


def _register(arg: Arg) -> int:
    tok = arg.tokens[0]
    if tok.kind == NAME and tok.text in REGISTERS:
        _no_junk(arg, 1, "register")
        return REGISTERS[tok.text]
    hint = suggest(tok.text, REGISTERS) if tok.kind == NAME and len(arg.tokens) == 1 else ""
    raise LineError(f"expected a register, got '{arg.text}'{hint}", arg.col)


def _no_junk(arg: Arg, used: int, what: str) -> None:
    """Complain about tokens after the first `used` ones of an operand."""
    if len(arg.tokens) > used:
        tok = arg.tokens[used]
        hint = " (missing ','?)" if tok.kind != PUNCT else ""
        raise LineError(f"unexpected '{tok.text}' after the {what}{hint}", tok.col)


def _substitute(text: str, values: Mapping[str, str], unique: str, macro: _Macro) -> str:
    r"""A macro body line with `\param` replaced by its argument and `\@` by the expansion number.

    `\()` is an empty separator (`\name\()_end`). Inside string and character literals a
    backslash not followed by a parameter name is an ordinary escape such as \n.
    """
    out: list[str] = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if text.startswith("@", i + 1):
                out.append(unique)
                i += 2
                continue
            if text.startswith("()", i + 1):
                i += 3
                continue
            m = _IDENT.match(text, i + 1)
            if m and m.group() in values:
                out.append(values[m.group()])
                i = m.end()
                continue
            if quote is not None:
                out.append(text[i:i + 2])
                i += 2
                continue
            name = m.group() if m else text[i + 1:i + 2]
            hint = suggest("\\" + name, ["\\" + p for p in values])
            if not hint:
                hint = f" (macro {macro.name} has parameters: {', '.join(values)})" if values else \
                    f" (macro {macro.name} has no parameters)"
            raise LineError(f"unknown macro parameter '\\{name}'{hint}")
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# The whole image


class _Assembly:
    def __init__(self, files: _Files, predefined: Mapping[str, int] | None,
                 ports: Mapping[str, int] | None, data_base: int):
        self.files = files
        self.predefined = {k: v & MASK64 for k, v in (predefined or {}).items()}
        self.ports = dict(ports or {})
        self.layout = _Layout(data_base)
        self.constants: dict[str, _ConstantOrigin] = {}  # .equ/.bit names of every machine
        self.expansions = 0  # numbers \@, unique across the image

    def run(self, machine_sources: Mapping[str, Sequence[Path | _Source]],
            threads: Sequence[tuple[str, str, str]] = (),
            expressions: Mapping[str, Sequence[str]] | None = None) -> Image:
        machines = [_Machine(name, self) for name in machine_sources]
        for machine, sources in zip(machines, machine_sources.values()):
            machine.read(sources)
        from .c.link import add_thread_stacks
        stacks = add_thread_stacks(self.layout, machines, threads)
        sites: list[Site] = []
        for machine in machines:
            machine.encode(sites)
        from .c.link import add_entry_stubs
        add_entry_stubs(machines, threads, sites)
        values: dict[tuple[str, str], int] = {}
        for machine in machines:
            for text in (expressions or {}).get(machine.name, ()):
                try:
                    values[(machine.name, text)] = machine.value_of(text)
                except LineError as e:
                    raise ExpressionError(machine.name, text, e.message) from None
        constants = dict(self.predefined)
        bits: dict[str, int] = {}
        for machine in machines:
            constants.update(machine.constants)
            bits.update(machine.bits)
        return Image(
            machines={m.name: m.out for m in machines},
            sites=sites,
            symbols=sorted(self.layout.symbols, key=lambda s: s.addr),
            bits=bits,
            constants=constants,
            memory_words=self.layout.next,
            sources=self.files.sources,
            stacks=stacks,
            locals={m.name: m.c_locals for m in machines if m.c_locals},
            values=values,
        )


class ExpressionError(Exception):
    """A constant expression given from outside the sources (`assemble(expressions=...)`) is bad."""

    def __init__(self, machine: str, text: str, message: str):
        self.machine, self.text, self.message = machine, text, message
        super().__init__(message)


def assemble(machine_sources: dict[str, list[Path]], *,
             predefined: dict[str, int] | None = None,
             ports: dict[str, int] | None = None,
             lib_dirs: Sequence[Path] = (),
             base_dir: Path | None = None,
             substitutions: dict[str, Path] | None = None,
             data_base: int = 0x100,
             threads: Sequence[tuple[str, str, str]] = (),
             expressions: Mapping[str, Sequence[str]] | None = None) -> Image:
    """Assemble every machine's source files into one Image.

    predefined: constants every machine sees (thread names -> ids, scenario parameters);
    ports: port names for P operands (also usable as values); lib_dirs: searched for .include
    after the including file's folder; base_dir: displayed paths are relative to it when
    possible; substitutions: file name (as written, or relative to base_dir) -> replacement file;
    data_base: the word address of the first data object; threads: (name, machine, entry) of
    each thread, for the stacks of threads on machines with C code and C entry functions;
    expressions: machine -> constant expressions to evaluate there as operands are (Image.values),
    e.g. threads' registers.
    """
    files = _Files(base_dir, substitutions, lib_dirs)
    return _Assembly(files, predefined, ports, data_base).run(machine_sources, threads, expressions)


def assemble_text(text: str, *, filename: str = "<input>", machine: str = "m0",
                  predefined: dict[str, int] | None = None,
                  ports: dict[str, int] | None = None,
                  lib_dirs: Sequence[Path] = (),
                  base_dir: Path | None = None,
                  substitutions: dict[str, Path] | None = None,
                  data_base: int = 0x100) -> Image:
    """Assemble one machine from one in-memory source (for tests); .include looks in the cwd."""
    files = _Files(base_dir, substitutions, lib_dirs)
    return _Assembly(files, predefined, ports, data_base).run({machine: [files.text(filename, text)]})
