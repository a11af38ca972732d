"""Declarations: C types from pycparser's type nodes, constant expressions, and the layout and
initial values of globals (`struct page pages[4]` gives the symbols `pages[2].flags`, ...)."""

from __future__ import annotations

import difflib

from pycparser import c_ast

from ..isa import MASK64
from .consteval import fold, literal_type, parse_char, parse_int, signed
from .ctype import (
    BOOL,
    INT,
    LONG,
    ULONG,
    VOID,
    Array,
    CType,
    Field,
    Func,
    Int,
    Ptr,
    Struct,
    Void,
    decay,
    int_type,
    pointee_size,
    promote,
    wrap,
)
from .emitter import Addr
from .errors import at

MAX_OBJECT_WORDS = 1 << 16
REFUSED_TYPES = {
    "float": "floating point is not supported (every scalar is an integer in a 64-bit word)",
    "double": "floating point is not supported (every scalar is an integer in a 64-bit word)",
    "_Complex": "complex numbers are not supported",
    "jmp_buf": "setjmp/longjmp are not supported",
}


def hint(name: str, names) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class DeclMixin:
    """Needs: self.typedefs, self.tags, self.enums, self.constants (predefined), self.enum_of."""

    # -- types ---------------------------------------------------------------------------------

    def ctype(self, node) -> CType:
        if isinstance(node, c_ast.TypeDecl):
            return self.base_type(node.type)
        if isinstance(node, c_ast.Typename):
            return self.ctype(node.type)
        if isinstance(node, c_ast.PtrDecl):
            return Ptr(self.ctype(node.type))
        if isinstance(node, c_ast.ArrayDecl):
            of = self.ctype(node.type)
            if isinstance(of, Void) or isinstance(of, Func):
                raise at(node.coord, f"array of {of}")
            if isinstance(of, Struct) and of.fields is None:
                raise at(node.coord, f"array of incomplete type {of}")
            n = None
            if node.dim is not None:
                try:
                    n = self.const_int(node.dim)
                except Exception as e:  # a CError from const_int: not a constant
                    if getattr(e, "message", "").startswith("not a constant"):
                        raise at(node.coord, "variable-length arrays are not supported (the length "
                                             "must be a constant)") from None
                    raise
                if not 0 < n <= MAX_OBJECT_WORDS:
                    raise at(node.dim.coord, f"array length must be 1..{MAX_OBJECT_WORDS}, got {signed(n)}")
            return Array(of, n)
        if isinstance(node, c_ast.FuncDecl):
            return self.func_type(node)
        if isinstance(node, (c_ast.Struct, c_ast.Union, c_ast.Enum, c_ast.IdentifierType)):
            return self.base_type(node)
        raise at(getattr(node, "coord", None), f"unsupported declarator {type(node).__name__}")

    def func_type(self, node: c_ast.FuncDecl) -> Func:
        ret = self.ctype(node.type)
        if isinstance(ret, (Struct, Array)):
            raise at(node.coord, f"functions returning {ret} are not supported (return a pointer)")
        params: list[CType] = []
        variadic = False
        unknown = node.args is None
        for p in (node.args.params if node.args else []):
            if isinstance(p, c_ast.EllipsisParam):
                variadic = True
                continue
            if isinstance(p, c_ast.ID):
                raise at(p.coord, "old-style (K&R) parameter lists are not supported")
            t = self.ctype(p.type)
            if isinstance(t, Void) and not p.name:
                continue
            t = decay(t)
            if isinstance(t, Struct):
                raise at(p.coord, f"passing {t} by value is not supported (pass a pointer)")
            params.append(t)
        return Func(ret, tuple(params), variadic, unknown)

    def base_type(self, node) -> CType:
        if isinstance(node, c_ast.IdentifierType):
            names = node.names
            for n in names:
                if n in REFUSED_TYPES:
                    raise at(node.coord, REFUSED_TYPES[n])
            if names == ["void"]:
                return VOID
            t = int_type(names)
            if t is not None:
                return t
            if len(names) == 1 and names[0] in self.typedefs:
                return self.typedefs[names[0]]
            raise at(node.coord, f"unknown type name '{' '.join(names)}'" + hint(names[-1], self.typedefs))
        if isinstance(node, c_ast.Struct):
            return self.struct_type(node, union=False)
        if isinstance(node, c_ast.Union):
            return self.struct_type(node, union=True)
        if isinstance(node, c_ast.Enum):
            self.enum_type(node)
            return Int(True, "enum", bits=32)
        raise at(getattr(node, "coord", None), f"unsupported type {type(node).__name__}")

    def struct_type(self, node, union: bool) -> Struct:
        kind = "union" if union else "struct"
        tag = node.name or f"<anonymous {kind} at {node.coord.line}>"
        s = self.tags.get((kind, tag))
        if s is None:
            s = self.tags[(kind, tag)] = Struct(tag, union)
        if node.decls is not None:
            if s.fields is not None:
                raise at(node.coord, f"redefinition of {kind} {tag} (first defined at {s.where})")
            fields: dict[str, Field] = {}
            off = 0
            for d in node.decls:
                if d.bitsize is not None:
                    raise at(d.coord, "bit-fields are not supported (use a flags word and bit operations)")
                t = self.ctype(d.type)
                if isinstance(t, Struct) and t.fields is None:
                    raise at(d.coord, f"field '{d.name}' has incomplete type {t}")
                if isinstance(t, Array) and t.n is None:
                    raise at(d.coord, "flexible array members are not supported")
                if d.name is None:  # an anonymous struct or union: its fields join this one's
                    if isinstance(t, Struct) and t.fields:
                        for f in t.fields.values():
                            fields[f.name] = Field(f.name, f.type, off + f.offset)
                        off += 0 if union else t.size
                    continue
                if d.name in fields:
                    raise at(d.coord, f"duplicate field '{d.name}' in {kind} {tag}")
                fields[d.name] = Field(d.name, t, 0 if union else off)
                if not union:
                    off += t.size
            if not fields:
                raise at(node.coord, f"{kind} {tag} has no fields")
            s.fields = fields
            s.where = f"{node.coord.file}:{node.coord.line}"
        return s

    def enum_type(self, node: c_ast.Enum) -> None:
        if node.values is None:
            return
        value = 0
        names = []
        for e in node.values.enumerators:
            if e.value is not None:
                value = self.const_int(e.value)
            if e.name in self.enums:
                raise at(e.coord, f"redefinition of enumerator '{e.name}'")
            self.enums[e.name] = value & MASK64
            names.append(e.name)
            value += 1
        group = tuple(names)
        for n in names:
            self.enum_of[n] = group

    # -- constant expressions ------------------------------------------------------------------

    def const_int(self, node) -> int:
        v, _ = self.const(node)
        if isinstance(v, Addr):
            raise at(node.coord, "not a constant integer (an address)")
        return v

    def const(self, node) -> tuple[int | Addr, CType]:
        """A constant expression's (value, type); addresses of globals are `Addr`s."""
        if isinstance(node, c_ast.Constant):
            return self.constant(node)
        if isinstance(node, c_ast.ID):
            name = node.name
            if name in self.enums:
                return wrap(self.enums[name], INT), INT
            if name in self.constants:
                return self.constants[name] & MASK64, LONG
            g = self.globals.get(name)
            if g is not None and isinstance(g.type, (Array, Func)):
                return Addr(g.symbol), decay(g.type)
            raise at(node.coord, f"not a constant: '{name}'")
        if isinstance(node, c_ast.Cast):
            t = self.ctype(node.to_type)
            v, _ = self.const(node.expr)
            if t is BOOL and not isinstance(v, Addr):
                v = int(v != 0)
            elif not isinstance(v, Addr):
                v = wrap(v, t)
            return v, t
        if isinstance(node, c_ast.UnaryOp):
            op = node.op
            if op == "sizeof":
                return self.sizeof(node.expr), ULONG
            if op == "&":
                return self.const_address(node.expr)
            v, t = self.const(node.expr)
            if isinstance(v, Addr):
                raise at(node.coord, "not a constant integer (an address)")
            t = promote(t)
            if op == "-":
                return wrap(-v, t), t
            if op == "+":
                return v, t
            if op == "~":
                return wrap(~v, t), t
            if op == "!":
                return int(v == 0), INT
            raise at(node.coord, f"not a constant expression (operator {op})")
        if isinstance(node, c_ast.BinaryOp):
            a, ta = self.const(node.left)
            b, tb = self.const(node.right)
            if isinstance(a, Addr) or isinstance(b, Addr):
                if node.op in ("+", "-") and isinstance(a, Addr) and not isinstance(b, Addr):
                    step = pointee_size(ta) * signed(b)
                    return Addr(a.name, a.off + (step if node.op == "+" else -step)), ta
                raise at(node.coord, "not a constant expression (arithmetic on addresses)")
            try:
                return fold(node.op, a, b, ta, tb)
            except ZeroDivisionError:
                raise at(node.coord, "division by zero in a constant expression") from None
        if isinstance(node, c_ast.TernaryOp):
            c = self.const_int(node.cond)
            return self.const(node.iftrue if c else node.iffalse)
        raise at(getattr(node, "coord", None), "not a constant expression")

    def constant(self, node: c_ast.Constant) -> tuple[int, CType]:
        try:
            if node.type == "char":
                return parse_char(node.value), INT
            if node.type == "string":
                raise at(node.coord, "string literals are only accepted as messages of BUG/WARN/printk")
            if node.type in ("float", "double", "long double"):
                raise at(node.coord, "floating point is not supported (every scalar is an integer in a 64-bit word)")
            v, _unsigned = parse_int(node.value)
        except ValueError as e:
            raise at(node.coord, str(e)) from None
        return v, literal_type(node.value, v)

    def const_address(self, node) -> tuple[Addr, CType]:
        """&global, &global.field, &global[const], ... as an Addr."""
        if isinstance(node, c_ast.ID):
            g = self.globals.get(node.name)
            if g is None:
                raise at(node.coord, f"not a constant address: '{node.name}'")
            return Addr(g.symbol), Ptr(g.type)
        if isinstance(node, c_ast.StructRef) and node.type == ".":
            a, t = self.const_address(node.name)
            f = self.field_of(t.to, node.field.name, node.field.coord)
            return Addr(a.name, a.off + f.offset), Ptr(f.type)
        if isinstance(node, c_ast.ArrayRef):
            a, t = self.const_address(node.name)
            if not isinstance(t.to, Array):
                raise at(node.coord, "not a constant address")
            i = signed(self.const_int(node.subscript))
            return Addr(a.name, a.off + i * t.to.of.size), Ptr(t.to.of)
        raise at(getattr(node, "coord", None), "not a constant address")

    def field_of(self, t: CType, name: str, coord) -> Field:
        if not isinstance(t, Struct):
            raise at(coord, f"request for field '{name}' in something that is not a struct ({t})")
        if t.fields is None:
            raise at(coord, f"{t} is incomplete (not defined)")
        f = t.fields.get(name)
        if f is None:
            raise at(coord, f"{t} has no field '{name}'" + hint(name, t.fields))
        return f

    def sizeof(self, node) -> int:
        if isinstance(node, c_ast.Typename):
            t = self.ctype(node.type)
        else:
            t = self.type_of(node)
        if isinstance(t, Struct) and t.fields is None:
            raise at(node.coord, f"sizeof of incomplete {t}")
        return t.size

    # -- global data ---------------------------------------------------------------------------

    def layout_symbols(self, name: str, t: CType, addr: int, obj: str, fld: str) -> None:
        """One Symbol per scalar word, named as the assembler names data: `pages[2].flags`."""
        if isinstance(t, Struct):
            self.link.name(name, addr, None)
            for f in t.fields.values():
                self.layout_symbols(f"{name}.{f.name}", f.type, addr + f.offset, obj,
                                    f"{fld}.{f.name}" if fld else f.name)
        elif isinstance(t, Array):
            self.link.name(name, addr, t.n)
            for i in range(t.n):
                self.layout_symbols(f"{name}[{i}]", t.of, addr + i * t.of.size, obj, f"{fld}[{i}]")
        else:
            self.link.name(name, addr, None)
            self.link.word(name, obj, fld, addr)

    def initialise(self, t: CType, addr: int, init, coord) -> None:
        """Record the initial words of an object of type t at addr from an initializer node."""
        if isinstance(init, c_ast.InitList):
            if isinstance(t, Array):
                i = 0
                for e in init.exprs:
                    if isinstance(e, c_ast.NamedInitializer):
                        i = self.array_designator(e, coord)
                        inner = self.designated(t.of, e.name[1:], e.expr)
                        e = inner
                    if i >= t.n:
                        raise at(getattr(e, "coord", None) or coord, f"excess elements in the initializer of {t}")
                    self.initialise(t.of, addr + i * t.of.size, e, coord)
                    i += 1
                return
            if isinstance(t, Struct):
                names = list(t.fields)
                i = 0
                for e in init.exprs:
                    if isinstance(e, c_ast.NamedInitializer):
                        d = e.name[0]
                        if not isinstance(d, c_ast.ID):
                            raise at(getattr(d, "coord", None) or coord, f"expected a field designator .name for {t}")
                        f = self.field_of(t, d.name, d.coord)
                        i = names.index(f.name)
                        e = self.designated(f.type, e.name[1:], e.expr)
                    if i >= len(names):
                        raise at(getattr(e, "coord", None) or coord, f"excess elements in the initializer of {t}")
                    f = t.fields[names[i]]
                    self.initialise(f.type, addr + f.offset, e, coord)
                    i += 1
                    if t.union:
                        break
                return
            if len(init.exprs) == 1:  # braces around a scalar
                return self.initialise(t, addr, init.exprs[0], coord)
            raise at(init.coord or coord, f"a braced list cannot initialise {t}")
        if isinstance(t, (Array, Struct)):
            raise at(getattr(init, "coord", None) or coord, f"{t} needs a braced initializer")
        value, _ = self.const(init)
        if isinstance(t, Int) and t.is_bool and not isinstance(value, Addr):
            value = int(value != 0)
        elif not isinstance(value, Addr):
            value = wrap(value, t)  # u8 x = 300 holds 44
        if value != 0:
            self.link.init(addr, value)

    def array_designator(self, e, coord) -> int:
        d = e.name[0]
        if isinstance(d, c_ast.ArrayDesignator):
            return self.const_int(d.expr)
        if isinstance(d, c_ast.ID):
            raise at(d.coord, f"field designator .{d.name} in an array initializer")
        return self.const_int(d)

    @staticmethod
    def designated(t: CType, rest: list, expr):
        """`.a.b = x` / `[1].c = x`: the remaining designators become nested initializer lists."""
        if not rest:
            return expr
        return c_ast.InitList([c_ast.NamedInitializer(rest, expr)])
