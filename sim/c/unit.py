"""One C translation unit: preprocess (pcpp), parse (pycparser), and generate every function.

`FuncGen` compiles one function definition; `Unit` walks the file's external declarations:
typedefs, struct/enum definitions, globals (laid out through the `Link`, which is the machine's
view of the image: data layout, symbols, labels) and functions. Static functions (the bundled
headers' inline helpers) are compiled only when something calls them, once per machine.

Calling convention (C and assembly alike): arguments in r1..r8, the result in r0; a function
preserves r1..r13 except its own argument registers (it pushes what it uses on the thread's
private push/pop stack), and r15 (the stack pointer of the in-memory frames); r14 (`at`) is
scratch. A thread's entry function returning ends the thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pycparser import c_ast, c_parser

from ..isa import OPS, Imm, Reg
from .ctype import Array, CType, Func, Struct, Void, decay
from .decls import DeclMixin, hint
from .emitter import ARG_REGS, AT, POOL, RET, SP, Emitter, FuncRef, SiteInfo
from .errors import CError, at
from .calls import CallMixin
from .exprs import ExprMixin
from .kernel_api import KernelApiMixin
from .preprocess import INCLUDE_DIR, preprocess
from .stmts import StmtMixin
from .values import Var


@dataclass(eq=False)
class FnInfo:
    name: str
    type: Func
    coord: object
    defined: bool = False
    builtin: bool = False  # declared by a bundled header: the kernel API implements it
    static: bool = False
    node: c_ast.FuncDef | None = None
    label: str = ""  # the machine label of its code


class FuncGen(ExprMixin, CallMixin, StmtMixin, KernelApiMixin):
    def __init__(self, unit: Unit, info: FnInfo):
        self.unit = unit
        self.em = unit.em
        self.name = info.name
        self.info = info
        self.ftype = info.type
        self.scopes: list[dict[str, Var]] = [{}]
        self.free = list(POOL)
        self.touched: set[int] = set()
        self.frame_size = 0
        self.frame_vars: list[tuple[int, str, CType]] = []
        self.breaks: list[int] = []
        self.continues: list[int] = []
        self.goto_labels: dict[str, tuple[int, object]] = {}
        self.labels_bound: set[int] = set()
        self.case_labels: dict[int, int] = {}
        self.node_coord = info.coord
        self.calls_made = False
        self.discarding = None
        self.needs: dict[int, int] = {}
        self.epilogue = self.em.new_label()
        self.var_ranges: list[list] = []  # [var, start label, end label] for replay --show

    def lookup(self, name: str) -> Var | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return self.unit.globals.get(name)

    def visible_names(self) -> list[str]:
        return [n for s in self.scopes for n in s]

    def site_of(self, coord) -> SiteInfo:
        return self.unit.site_of(coord, self.name)

    def compile(self) -> None:
        fdef = self.info.node
        em = self.em
        start = len(em.code)
        self.addr_taken = _address_taken(fdef.body)
        params = fdef.decl.type.args.params if fdef.decl.type.args else []
        params = [p for p in params if not (isinstance(p, c_ast.Typename) or p.name is None)]
        if len(params) > len(ARG_REGS):
            raise at(fdef.coord, f"at most {len(ARG_REGS)} parameters are supported")
        spills = []
        for i, (p, t) in enumerate(zip(params, self.ftype.params)):
            var = Var(p.name, t, is_param=True)
            reg = ARG_REGS[i]
            if p.name in self.addr_taken:
                var.slot = self.frame_size
                self.frame_size += 1
                self.frame_vars.append((var.slot, p.name, t))
                spills.append((var.slot, reg))
            else:
                var.reg = reg
                self.free.remove(reg)
            self.scopes[0][p.name] = var
            self.var_ranges.append([var, None, None])
        self.em.site = self.site_of(fdef.body.coord)
        self.stmt(fdef.body)
        for name, (label, coord) in self.goto_labels.items():
            if label not in self.labels_bound:
                raise at(coord, f"label '{name}' used but not defined")
        # epilogue
        self.em.site = self.site_of(_end_coord(fdef))
        # the function preserves every register it writes (its arguments too) but r0, at and sp
        saved = sorted(_written(em.code[start:]) - {RET, AT, SP})
        em.bind(self.epilogue)
        if self.frame_size:
            em.emit("leave", Imm(self.frame_size))
        for r in reversed(saved):
            em.emit("pop", Reg(r))
        em.emit("ret")
        # prologue, inserted before the body now that the registers and the frame are known
        body = em.code[start:]
        del em.code[start:]
        em.site = self.site_of(fdef.decl.coord)
        for r in saved:
            em.emit("push", Reg(r))
        if self.frame_size:
            em.emit("enter", Imm(self.frame_size))
        for slot, reg in spills:
            em.emit("st", _frame(slot), Reg(reg))
        shift = len(em.code) - start
        em.code.extend(body)
        em.label_pos[:] = [p + shift if p is not None and p >= start and i not in self.outer_labels
                           else p for i, p in enumerate(em.label_pos)]
        em.drop_jumps_to_next(start)
        em.code[start].label = self.info.label
        self.fn_start = em.new_label()
        em.label_pos[self.fn_start] = start
        end = em.new_label()
        em.bind(end)
        for var, lo, hi in self.var_ranges:
            self.unit.locals.append((self.name, var.name, str(var.type), var.reg, var.slot,
                                     self.fn_start if lo is None else lo, end if hi is None else hi))
        if self.frame_size:  # what each word of the frame is called in queries (`req`, `s.flags`)
            self.unit.frames.append((self.name, self.fn_start, end, self.frame_size,
                                     frame_word_names(self.frame_vars)))


_READS_FIRST = frozenset({"jz", "jnz", "beq", "bne", "blt", "ble", "bgt", "bge", "blt_s", "ble_s", "bgt_s",
                          "bge_s", "bug_on", "push"})


def _written(code) -> set[int]:
    """The registers these instructions write."""
    out: set[int] = set()
    for ins in code:
        if ins.op == "recv":
            out.update(a.n for a in ins.args[1:])
        elif ins.args and isinstance(ins.args[0], Reg) and OPS[ins.op].signature[0] == "R" \
                and ins.op not in _READS_FIRST:
            out.add(ins.args[0].n)
    return out


def frame_word_names(frame_vars) -> tuple[tuple[int, str], ...]:
    """(offset, name) for every word of a frame, named as globals' words are: `req`, `s.flags`,
    `buf[2]`, `reqs[1].wb_flags` (a union's word takes its first member's name)."""
    out: dict[int, str] = {}

    def walk(name: str, t, off: int) -> None:
        if isinstance(t, Struct) and t.fields:
            for f in t.fields.values():
                walk(f"{name}.{f.name}", f.type, off + f.offset)
        elif isinstance(t, Array) and t.n:
            for i in range(t.n):
                walk(f"{name}[{i}]", t.of, off + i * t.of.size)
        else:
            out.setdefault(off, name)

    for slot, name, t in frame_vars:
        walk(name, t, slot)
    return tuple(sorted(out.items()))


def _frame(slot: int):
    from ..isa import Mem
    return Mem(SP, slot)


def _end_coord(fdef):
    """The function's last statement (pycparser keeps no closing-brace position)."""
    items = fdef.body.block_items or []
    return items[-1].coord if items else fdef.body.coord


_WRITES_THROUGH = frozenset({"rt_recv"})


def _address_taken(node) -> set[str]:
    out: set[str] = set()

    def walk(n):
        if isinstance(n, c_ast.FuncCall) and isinstance(n.name, c_ast.ID) and n.name.name in _WRITES_THROUGH \
                and n.args is not None:
            # rt_recv(port, &a, &b) writes the words into a and b directly (registers are fine)
            for a in n.args.exprs:
                walk(a.expr if isinstance(a, c_ast.UnaryOp) and a.op == "&" and isinstance(a.expr, c_ast.ID) else a)
            return
        if isinstance(n, c_ast.UnaryOp) and n.op == "&":
            e = n.expr
            while isinstance(e, (c_ast.StructRef, c_ast.ArrayRef)) and not (
                    isinstance(e, c_ast.StructRef) and e.type == "->"):
                e = e.name
            if isinstance(e, c_ast.ID):
                out.add(e.name)
        for _, child in n.children():
            walk(child)
    walk(node)
    return out


_PARSE_ERROR = re.compile(r"^(.*?):(\d+):(\d+): (.*)$", re.S)


class Unit(DeclMixin):
    def __init__(self, link, text: str, display_name: str, folder, display):
        self.link = link
        self.display_name = display_name
        self.em = Emitter()
        self.typedefs: dict[str, CType] = {}
        self.tags: dict[tuple[str, str], Struct] = {}
        self.enums: dict[str, int] = {}
        self.enum_of: dict[str, tuple[str, ...]] = {}
        self.constants: dict[str, int] = dict(link.constants)
        self.globals: dict[str, Var] = {}
        self.functions: dict[str, FnInfo] = {}
        self.locals: list[tuple] = []  # (function, name, type, reg, slot, start label, end label)
        self.frames: list[tuple] = []  # (function, start label, end label, frame words, word names)
        self.sites: dict[tuple, SiteInfo] = {}
        self.text, self.folder, self.display = text, folder, display
        self.texts: dict[str, list[str]] = {}
        self.sources: dict[str, str] = {}
        self.used_statics: list[FnInfo] = []

    # -- sites ---------------------------------------------------------------------------------

    def site_of(self, coord, function: str) -> SiteInfo:
        if coord is None:
            coord_key = (self.display_name, 0, 0, function)
        else:
            coord_key = (coord.file, coord.line, coord.column or 0, function)
        s = self.sites.get(coord_key)
        if s is None:
            file, line, col, _ = coord_key
            lines = self.texts.get(file)
            if lines is None:
                lines = self.texts[file] = self.sources.get(file, "").split("\n")
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            s = self.sites[coord_key] = SiteInfo(file, line, col, function, text)
        return s

    def source_line(self, coord) -> str:
        lines = self.texts.get(coord.file)
        if lines is None:
            lines = self.texts[coord.file] = self.sources.get(coord.file, "").split("\n")
        return lines[coord.line - 1] if 0 < coord.line <= len(lines) else ""

    # -- the unit ------------------------------------------------------------------------------

    def compile(self) -> None:
        pre, self.sources, self.macro_ints = preprocess(self.text, self.display_name, self.folder, self.display,
                                                          self.link.include_dirs)
        parser = c_parser.CParser()
        try:
            ast = parser.parse(pre, self.display_name)
        except c_parser.ParseError as e:
            raise self.syntax_error(str(e), parser) from None
        except AssertionError as e:  # pycparser's own checks on malformed input
            raise self.syntax_error(f": {e}", parser) from None
        except RecursionError:  # the parser descends recursively: absurd nesting exhausts it
            raise self.syntax_error(": nested too deeply", parser) from None
        defs = []
        for ext in ast.ext:
            if isinstance(ext, c_ast.FuncDef):
                defs.append(self.function_def(ext))
            elif isinstance(ext, c_ast.Typedef):
                self.s_typedef(ext)
            elif isinstance(ext, c_ast.Decl):
                self.declare_global(ext)
            elif isinstance(ext, c_ast.Pragma):
                continue
            elif isinstance(ext, c_ast.StaticAssert):
                if not self.const_int(ext.cond):
                    raise at(ext.coord, "static assertion failed")
            else:
                raise at(ext.coord, f"unsupported top-level construct ({type(ext).__name__})")
        for info in defs:
            if not info.static:
                self.generate_bounded(info)
        while self.used_statics:
            info = self.used_statics.pop()
            self.generate_bounded(info)
        self.link.add_code(self)

    def syntax_error(self, text: str, parser) -> CError:
        m = _PARSE_ERROR.match(text)
        if m:
            file, line, col, msg = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        else:  # no position in the message: the parser's next token has it
            tok = parser._tokens.peek(1) if hasattr(parser, "_tokens") else None
            file = getattr(tok, "filename", None) or self.display_name
            line, col = getattr(tok, "lineno", None), getattr(tok, "column", None)
            msg = text.split(": ", 1)[-1]
            if tok is not None:
                msg = f"{msg} at '{tok.value}'"
            if line is None and file == self.display_name:  # at the end of input: where the text ends
                last = self.text.rstrip().split("\n")
                line, col = len(last), len(last[-1]) + 1
        msg = f"syntax error {msg}" if msg.startswith("before") else f"syntax error: {msg}"
        return CError(msg, file, line, col)

    def generate_bounded(self, info: FnInfo) -> None:
        """generate, with nesting too deep for the recursive code generator one clear error."""
        try:
            self.generate(info)
        except RecursionError:
            raise at(info.coord, f"function '{info.name}' is nested too deeply to compile") from None

    def generate(self, info: FnInfo) -> None:
        outer = set(range(len(self.em.label_pos)))
        g = FuncGen(self, info)
        g.outer_labels = outer
        g.compile()

    def use_function(self, name: str) -> str:
        """The label a call to `name` jumps to (a static function is compiled on first use)."""
        info = self.functions[name]
        if info.static and info.defined and not info.label:
            info.label, new = self.link.static_label(info)
            if new:
                self.used_statics.append(info)
        return info.label or name

    def s_typedef(self, node: c_ast.Typedef) -> None:
        t = self.ctype(node.type)
        old = self.typedefs.get(node.name)
        if old is not None and old != t and old is not t:
            raise at(node.coord, f"conflicting types for typedef '{node.name}'")
        self.typedefs[node.name] = t

    def function_def(self, fdef: c_ast.FuncDef) -> FnInfo:
        decl = fdef.decl
        if fdef.param_decls:
            raise at(fdef.coord, "old-style (K&R) function definitions are not supported")
        t = self.ctype(decl.type)
        if t.variadic:
            raise at(decl.coord, "variadic function definitions are not supported")
        info = self.declare_function(decl, t)
        if info.defined:
            raise at(decl.coord, f"redefinition of '{decl.name}'")
        info.defined = True
        info.builtin = False
        info.node = fdef
        info.coord = decl.coord
        if not info.static:
            info.label = decl.name
        return info

    def declare_function(self, decl, t: Func) -> FnInfo:
        static = "static" in (decl.storage or [])
        info = self.functions.get(decl.name)
        if info is None:
            builtin = decl.coord is not None and _in_bundled_header(decl.coord.file)
            info = self.functions[decl.name] = FnInfo(decl.name, t, decl.coord, builtin=builtin, static=static)
        else:
            if not t.unknown_params and not info.type.unknown_params and t.params != info.type.params:
                raise at(decl.coord, f"conflicting types for '{decl.name}' (previous declaration "
                                     f"at {info.coord.file}:{info.coord.line})")
            if not t.unknown_params:
                info.type = t
            info.static = info.static or static
        return info

    def declare_global(self, node: c_ast.Decl) -> None:
        if node.name is None:  # a struct, union or enum definition on its own
            self.ctype(node.type)
            return
        t = self.ctype(node.type)
        if isinstance(t, Func):
            self.declare_function(node, t)
            return
        storage = node.storage or []
        if "extern" in storage and node.init is None:
            if node.name not in self.globals:
                self.globals[node.name] = Var(node.name, t, symbol=node.name)
            return
        existing = self.globals.get(node.name)
        if existing is not None and existing.symbol in self.link.defined:
            if node.init is None:
                return  # a tentative definition repeated
            raise at(node.coord, f"redefinition of '{node.name}'")
        self.globals[node.name] = self.define_global(node, t, node.name)

    def define_global(self, node, t: CType, symbol: str) -> Var:
        if isinstance(t, Void):
            raise at(node.coord, f"variable '{node.name}' declared void")
        if isinstance(t, Array) and t.n is None:
            if isinstance(node.init, c_ast.InitList):
                n = 0
                i = 0
                for e in node.init.exprs:
                    if isinstance(e, c_ast.NamedInitializer):
                        i = self.array_designator(e, node.coord)
                    i += 1
                    n = max(n, i)
                t = Array(t.of, n)
            else:
                raise at(node.coord, f"array '{node.name}' needs a length")
        if isinstance(t, Struct) and t.fields is None:
            raise at(node.coord, f"storage size of '{node.name}' isn't known ({t} is incomplete)")
        addr = self.link.allocate(symbol, t.size, node.coord)
        self.layout_symbols(symbol, t, addr, symbol, "")
        if node.init is not None:
            self.initialise(t, addr, node.init, node.coord)
        return Var(node.name, t, symbol=symbol)

    def missing(self, node, name: str):
        return at(node.coord, f"'{name}' undeclared" + hint(name, self.globals))


def _in_bundled_header(file: str) -> bool:
    return file.startswith("include/")


def compile_unit(link, path_display: str, text: str, folder, display) -> Unit:
    unit = Unit(link, text, path_display, folder, display)
    unit.compile()
    return unit


__all__ = ["Unit", "compile_unit", "FuncRef", "INCLUDE_DIR", "decay", "Func"]
