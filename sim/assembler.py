"""The assembler: kernel-style assembly sources -> a decoded `sim.program.Image`.

Two passes:
  pass 1 reads each machine's sources line by line (following .include and expanding macros as
         it goes), records labels at pcs, defines constants and structs, allocates data objects in
         the one global layout, and queues every instruction with its operands (the common lines,
         read whole by one regular expression, with their operand texts: sim.asm.line_forms);
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

This module is pass 1's line loop and the whole run; its parts live in sim/asm/ (files and
includes, macros, data directives and names, pass 2's encoding, the fast line forms), each
mixed into `_Machine` or used by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .asm.data import DataDirectives, _ConstantOrigin, _Layout, _Struct
from .asm.encode import Encoder, _Pending
from .asm.files import _Files, _Source, split_lines
from .asm.line_forms import FAST_LINE, operand_texts
from .asm.macros import MacroReader, _Macro
from .asm.source_line import Arg, Where, is_punct, split_args, suggest
from .gc_pause import paused_gc
from .isa import MASK64, OPS, Label, Operand
from .lexer import NAME, LineError, Token, strip_comment, tokenize
from .program import Image, MachineCode, Site

__all__ = ["assemble", "assemble_text", "split_args", "ExpressionError", "_Assembly", "_Files"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCAL_LABEL = re.compile(r"\.[A-Za-z0-9_]+")


class _Machine(MacroReader, DataDirectives, Encoder):
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
        self.operand_cache: dict[str, Operand] = {}  # letter + text -> operand (pass 2, fast lines)
        self.label_cache: dict[str, Label] = {}
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
        self.c_frames: list[tuple] = []  # C functions with a frame: (function, lo pc, hi pc, words, names)

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
        display = source.display
        fast_line = FAST_LINE.fullmatch
        for lineno, raw in enumerate(split_lines(source.text), 1):
            if self.recording is None and self.struct is None and (fast := fast_line(raw)) is not None:
                if self._fast_line(raw, fast, display, lineno):
                    continue
            where = Where(display, lineno, strip_comment(raw).strip())
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


    def _fast_line(self, raw: str, fast: re.Match, display: str, lineno: int) -> bool:
        """A line FAST_LINE matched (sim.asm.line_forms): its label and its instruction, queued
        with the operand texts (pass 2 encodes them). False: the general path must read it (an
        unknown mnemonic, a macro, an instruction outside a function: those messages are its)."""
        label, op, operands, comment = fast.groups()
        if op is not None and (op not in OPS or (self.function is None and (label is None or label[0] == "."))):
            return False
        if label is None and op is None:
            return True  # blank, or only a comment
        where = Where(display, lineno, (raw[:fast.start(4)] if comment is not None else raw).strip())
        try:
            if label is not None:
                self._label(Token(NAME, label, fast.start(1) + 1, fast.end(1)), where)
            if op is not None:
                self.pending.append(_Pending(op, None, where, fast.start(2) + 1, self.function, raw,
                                             operand_texts(operands)))
        except LineError as e:
            raise where.error(e.message, e.col) from None
        return True

    def _line(self, raw: str, where: Where) -> None:
        try:
            self._statement(raw, tokenize(raw), where)
        except LineError as e:
            raise where.error(e.message, e.col) from None

    def _statement(self, raw: str, tokens: list[Token], where: Where) -> None:
        i = 0
        while i + 1 < len(tokens) and tokens[i].kind == NAME and is_punct(tokens[i + 1], ":"):
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
        with paused_gc():  # many long-lived objects, no cycles (sim.gc_pause)
            return self._run(machine_sources, threads, expressions)

    def _run(self, machine_sources: Mapping[str, Sequence[Path | _Source]],
             threads: Sequence[tuple[str, str, str]],
             expressions: Mapping[str, Sequence[str]] | None) -> Image:
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
            frames={m.name: m.c_frames for m in machines if m.c_frames},
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
