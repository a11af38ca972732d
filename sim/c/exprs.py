"""Expressions: one small method per pycparser node (`x_BinaryOp`, ...), as c_generator.py does.

A method returns a `Val`: a constant, a register variable's register, or a temporary register it
allocated (owned by the caller, which frees it). `dest` is a hint: a register the caller would
like the result in (an assignment's target), used only where writing it early is safe.
Conditions compile to branches (`branch`), so `if (a < b && !c)` costs no 0/1 values.
"""

from __future__ import annotations

from pycparser import c_ast

from ..isa import MASK64, Imm, Mem, Reg
from .consteval import COMPARISONS, fold, signed
from .ctype import (
    BOOL,
    INT,
    LONG,
    ULONG,
    VOID,
    Array,
    CType,
    Func,
    Int,
    Ptr,
    Struct,
    Void,
    arith,
    decay,
    is_narrow,
    is_unsigned,
    needs_wrap,
    pointee_size,
    promote,
    wrap,
)
from .emitter import AT, SP, Addr, Jump
from .errors import at
from .values import LVal, Val

_ARITH_OPS = {"+": "add", "-": "sub", "*": "mul", "&": "and", "|": "or", "^": "xor", "<<": "shl"}
_COMMUTATIVE = {"+", "*", "&", "|", "^"}
_SWAPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_BRANCH_U = {"<": "blt", "<=": "ble", ">": "bgt", ">=": "bge", "==": "beq", "!=": "bne"}
_BRANCH_S = {"<": "blt_s", "<=": "ble_s", ">": "bgt_s", ">=": "bge_s", "==": "beq", "!=": "bne"}
_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "&=": "&", "|=": "|", "^=": "^",
             "<<=": "<<", ">>=": ">>"}


class ExprMixin:
    # -- registers -----------------------------------------------------------------------------

    def alloc(self) -> int:
        if not self.free:
            raise at(self.node_coord, "expression too complex: no free register for a temporary "
                                      "(split it into statements)")
        r = min(self.free)  # temporaries from the bottom, locals from the top (see StmtMixin.s_Decl)
        self.free.remove(r)
        self.touched.add(r)
        return r

    def take(self, r: int) -> bool:
        """Allocate exactly register r if it is free."""
        if r in self.free:
            self.free.remove(r)
            self.touched.add(r)
            return True
        return False

    def release(self, v) -> None:
        if isinstance(v, Val) and v.owned:
            self.free.append(v.reg)
            v.owned = False
        elif isinstance(v, LVal) and v.owned:
            self.free.append(v.base)
            v.owned = False

    def in_reg(self, v: Val) -> Val:
        """v in a register (a constant is moved into a new temporary)."""
        if v.reg is not None:
            return v
        d = self.alloc()
        self.em.emit("mov", Reg(d), v.operand)
        return Val(v.type, d, owned=True)

    def to_reg(self, v: Val, dest: int | None) -> Val:
        """v in `dest` if one is given, else in some register."""
        if dest is None:
            return self.in_reg(v)
        if v.reg != dest:
            self.em.emit("mov", Reg(dest), v.operand)
            self.release(v)
        return Val(v.type, dest)

    def target(self, dest: int | None, *reuse: Val) -> tuple[int, bool]:
        """(register for a result, owned): dest, else an owned operand's register, else new."""
        if dest is not None:
            return dest, False
        for v in reuse:
            if v.owned:
                v.owned = False  # handed over to the result
                return v.reg, True
        return self.alloc(), True

    # -- entry points --------------------------------------------------------------------------

    def gen(self, node, dest: int | None = None) -> Val:
        prev, prev_coord = self.em.site, self.node_coord
        self.em.site = self.site_of(node.coord)
        self.node_coord = node.coord or prev_coord
        method = getattr(self, "x_" + type(node).__name__, None)
        if method is None:
            raise at(node.coord, f"unsupported expression ({type(node).__name__})")
        v = method(node, dest)
        self.em.site, self.node_coord = prev, prev_coord
        return v

    def gen_discard(self, node) -> None:
        """An expression statement: its value is not needed (x++ costs what ++x does, a call's
        result is not moved out of r0)."""
        if isinstance(node, c_ast.UnaryOp) and node.op in ("p++", "p--"):
            node = c_ast.UnaryOp(node.op[1:], node.expr, node.coord)
        if isinstance(node, c_ast.Cast) and isinstance(self.unit.ctype(node.to_type), Void):
            node = node.expr
        self.discarding = node if isinstance(node, c_ast.FuncCall) else None
        self.release(self.gen(node))
        self.discarding = None

    def type_of(self, node) -> CType:
        """The type of an expression without evaluating it (for sizeof): generated, then dropped."""
        saved = (len(self.em.code), list(self.free), set(self.touched), self.frame_size)
        try:
            v = self.gen_lvalue_or_value(node)
        finally:
            n, self.free, self.touched, self.frame_size = saved
            del self.em.code[n:]
        return v.type

    def gen_lvalue_or_value(self, node):
        if isinstance(node, (c_ast.ID, c_ast.ArrayRef, c_ast.StructRef)) or \
                (isinstance(node, c_ast.UnaryOp) and node.op == "*"):
            lv = self.lvalue(node)
            if isinstance(lv, Val):
                return lv
            self.release(lv)
            return lv
        return self.gen(node)

    # -- leaves --------------------------------------------------------------------------------

    def x_Constant(self, node, dest):
        v, t = self.unit.constant(node)
        return Val(t, imm=v)

    def x_ID(self, node, dest):
        var = self.lookup(node.name)
        if var is not None:
            if var.reg is not None:
                return Val(var.type, var.reg)
            return self.load(self.lvalue(node), dest)
        name = node.name
        if name in self.unit.enums:
            return Val(INT, imm=wrap(self.unit.enums[name], INT))
        if name in self.unit.constants:
            return Val(LONG, imm=self.unit.constants[name] & MASK64)
        if name in self.unit.functions:
            raise at(node.coord, f"function pointers are not supported ('{name}' used as a value)")
        raise self.unknown(node)

    def x_ArrayRef(self, node, dest):
        return self.load(self.lvalue(node), dest)

    x_StructRef = x_ArrayRef

    def unknown(self, node):
        from .decls import hint
        names = [*self.visible_names(), *self.unit.enums, *self.unit.constants, *self.unit.globals]
        return at(node.coord, f"'{node.name}' undeclared" + hint(node.name, names))

    # -- lvalues and memory --------------------------------------------------------------------

    def lvalue(self, node) -> LVal:
        prev = self.em.site
        self.em.site = self.site_of(node.coord)
        try:
            return self._lvalue(node)
        finally:
            self.em.site = prev

    def _lvalue(self, node) -> LVal:
        if isinstance(node, c_ast.ID):
            var = self.lookup(node.name)
            if var is None:
                if node.name in self.unit.enums or node.name in self.unit.constants:
                    raise at(node.coord, f"'{node.name}' is a constant, not assignable")
                raise self.unknown(node)
            if var.reg is not None:
                return LVal(var.type, reg=var.reg, var=var)
            if var.slot is not None:
                return LVal(var.type, base=SP, off=var.slot, var=var)
            return LVal(var.type, sym=var.symbol, var=var)
        if isinstance(node, c_ast.UnaryOp) and node.op == "*":
            p = self.gen(node.expr)
            t = decay(p.type)
            if not isinstance(t, Ptr):
                raise at(node.coord, f"cannot dereference a non-pointer ({p.type})")
            if isinstance(t.to, Void):
                raise at(node.coord, "cannot dereference a void pointer")
            return self.deref(p, t.to, 0)
        if isinstance(node, c_ast.ArrayRef) and self.is_array_lvalue(node.name):
            # an array object (not a pointer): index it in place, e.g. page->data[1] is [page + 4]
            lv = self.lvalue(node.name)
            elem = lv.type.of
            idx = self.gen(node.subscript)
            if not isinstance(idx.type, Int):
                raise at(node.subscript.coord, "array subscript is not an integer")
            if idx.is_const:
                lv.off += signed(idx.imm) * elem.size
                lv.type = elem
                return lv
            scaled = self.scale(idx, elem.size)
            if lv.base is None:
                return LVal(elem, base=scaled.reg, sym=lv.sym, off=lv.off, owned=scaled.owned)
            d, owned = self.target(None, scaled)
            self.em.emit("add", Reg(d), Reg(lv.base), Reg(scaled.reg))
            self.release(lv)
            return LVal(elem, base=d, sym=lv.sym, off=lv.off, owned=owned)
        if isinstance(node, c_ast.ArrayRef):
            base = self.gen(node.name)
            idx = self.gen(node.subscript)
            if not isinstance(decay(base.type), Ptr) and isinstance(decay(idx.type), Ptr):
                base, idx = idx, base  # i[a]
            t = decay(base.type)
            if not isinstance(t, Ptr):
                raise at(node.coord, f"subscripted value is not an array or pointer ({base.type})")
            if not isinstance(idx.type, Int):
                raise at(node.subscript.coord, "array subscript is not an integer")
            size = pointee_size(t)
            if idx.is_const:
                return self.deref(base, t.to, signed(idx.imm) * size)
            scaled = self.scale(idx, size)
            if base.reg is None:  # a global array: [i*size + array]
                if isinstance(base.imm, Addr):
                    return LVal(t.to, base=scaled.reg, sym=base.imm.name, off=base.imm.off, owned=scaled.owned)
                return LVal(t.to, base=scaled.reg, off=signed(base.imm), owned=scaled.owned)
            d, owned = self.target(None, scaled, base)
            self.em.emit("add", Reg(d), Reg(base.reg), Reg(scaled.reg))
            self.release(scaled)
            self.release(base)
            return LVal(t.to, base=d, owned=owned)
        if isinstance(node, c_ast.StructRef):
            if node.type == "->":
                p = self.gen(node.name)
                t = decay(p.type)
                if not isinstance(t, Ptr):
                    raise at(node.coord, f"'->' on a non-pointer ({p.type}); use '.'")
                f = self.unit.field_of(t.to, node.field.name, node.field.coord)
                lv = self.deref(p, t.to, f.offset)
                lv.type = f.type
                return lv
            lv = self.lvalue(node.name)
            if isinstance(lv.type, Ptr):
                raise at(node.coord, f"'.' on a pointer ({lv.type}); use '->'")
            f = self.unit.field_of(lv.type, node.field.name, node.field.coord)
            lv.off += f.offset
            lv.type = f.type
            return lv
        if isinstance(node, c_ast.Cast):
            return self.lvalue(node.expr)
        raise at(node.coord, "expression is not assignable (not an lvalue)")

    def is_array_lvalue(self, node) -> bool:
        """Is node an array object whose place is known without loading (a.b[..], p->arr)?"""
        if isinstance(node, (c_ast.StructRef, c_ast.ID)) or (isinstance(node, c_ast.ArrayRef)
                                                             and self.is_array_lvalue(node.name)):
            if isinstance(node, c_ast.ID):
                var = self.lookup(node.name)
                return var is not None and isinstance(var.type, Array)
            try:
                return isinstance(self.type_of(node), Array)
            except Exception:  # an error shows when the node is generated for real
                return False
        return False

    def deref(self, p: Val, to: CType, off: int) -> LVal:
        if p.reg is None:
            if isinstance(p.imm, Addr):
                return LVal(to, sym=p.imm.name, off=p.imm.off + off)
            return LVal(to, off=signed(p.imm) + off)
        return LVal(to, base=p.reg, off=off, owned=p.owned)

    def scale(self, idx: Val, size: int) -> Val:
        idx = self.in_reg(idx)
        if size == 1:
            return idx
        d, owned = self.target(None, idx)
        self.em.emit("mul", Reg(d), Reg(idx.reg), Imm(size))
        return Val(ULONG, d, owned=owned)

    def load(self, lv: LVal, dest: int | None = None) -> Val:
        if isinstance(lv.type, (Array, Func)):
            return self.address(lv, dest, decay(lv.type))
        if isinstance(lv.type, Struct):
            return self.address(lv, dest, lv.type)  # a struct value is carried by its address
        if lv.reg is not None:
            return Val(lv.type, lv.reg)
        if dest is not None:
            d, owned = dest, False
        elif lv.owned:
            d, owned = lv.base, True
            lv.owned = False
        else:
            d, owned = self.alloc(), True
        self.em.emit("ld", Reg(d), lv.mem)
        self.release(lv)
        if is_narrow(lv.type):  # the word may have been written as another type (a pointer cast, assembly)
            self.wrap_reg(d, d, lv.type)
        return Val(lv.type, d, owned=owned)

    def address(self, lv: LVal, dest: int | None, t: CType) -> Val:
        if lv.reg is not None:
            raise at(self.node_coord, "cannot take the address of a register variable")
        if lv.base is None:
            return Val(t, imm=Addr(lv.sym, lv.off) if lv.sym else lv.off & MASK64)
        if lv.sym is None and lv.off == 0 and lv.owned:
            lv.owned = False
            return Val(t, lv.base, owned=True)
        if lv.sym is None and lv.off == 0 and dest is None:
            return Val(t, lv.base)
        d, owned = (dest, False) if dest is not None else ((lv.base, True) if lv.owned else (self.alloc(), True))
        lv.owned = False if d == lv.base else lv.owned
        self.em.emit("add", Reg(d), Reg(lv.base), Addr(lv.sym, lv.off) if lv.sym else Imm(lv.off & MASK64))
        self.release(lv)
        return Val(t, d, owned=owned)

    def store(self, lv: LVal, v: Val) -> None:
        """lv = v (v already converted); v is not released."""
        if lv.reg is not None:
            if v.reg != lv.reg:
                self.em.emit("mov", Reg(lv.reg), v.operand)
        else:
            self.em.emit("st", lv.mem, v.operand)

    def copy_struct(self, dst: LVal, src: LVal) -> None:
        size = dst.type.size
        for i in range(size):
            s = Mem(src.base, src.off + i) if src.sym is None else None
            smem = s if s is not None else LVal(src.type, base=src.base, sym=src.sym, off=src.off + i).mem
            dmem = LVal(dst.type, base=dst.base, sym=dst.sym, off=dst.off + i).mem
            self.em.emit("ld", Reg(AT), smem)
            self.em.emit("st", dmem, Reg(AT))

    # -- operators -----------------------------------------------------------------------------

    def x_UnaryOp(self, node, dest):
        op = node.op
        if op == "sizeof":
            return Val(ULONG, imm=self.unit_sizeof(node.expr))
        if op == "&":
            if isinstance(node.expr, c_ast.ID) and self.lookup(node.expr.name) is None \
                    and node.expr.name in self.unit.functions:
                raise at(node.coord, "function pointers are not supported")
            lv = self.lvalue(node.expr)
            return self.address(lv, dest, Ptr(lv.type))
        if op == "*":
            return self.load(self.lvalue(node), dest)
        if op in ("++", "--", "p++", "p--"):
            return self.incdec(node, dest)
        if op == "!":
            v = self.gen(node.expr)
            if v.is_const:
                return Val(INT, imm=int(v.imm == 0))
            self.release(v)
            return self.bool_value(node, dest)
        v = self.gen(node.expr)
        t = promote(decay(v.type))
        if isinstance(t, Ptr) and op != "+":
            raise at(node.coord, f"wrong type argument to unary '{op}' ({v.type})")
        if op == "+":
            return Val(t, v.reg, v.imm, v.owned)
        if v.is_const:
            return Val(t, imm=wrap((-v.imm) if op == "-" else ~v.imm, t))
        v = self.in_reg(v)
        d, owned = self.target(dest, v)
        if op == "-":
            self.em.emit("mul", Reg(d), Reg(v.reg), Imm(MASK64))
            self.wrap_reg(d, d, t)  # -INT_MIN wraps; an unsigned int's negation is mod 2**32
        elif op == "~":
            self.em.emit("not", Reg(d), Reg(v.reg))
            if not t.signed:
                self.wrap_reg(d, d, t)
        else:
            raise at(node.coord, f"unsupported unary operator {op}")
        self.release(v)
        return Val(t, d, owned=owned)

    def unit_sizeof(self, node) -> int:
        if isinstance(node, c_ast.Typename):
            return self.unit.ctype(node.type).size
        return self.type_of(node).size

    def incdec(self, node, dest):
        lv = self.lvalue(node.expr)
        t = lv.type
        if not t.is_scalar:
            raise at(node.coord, f"cannot increment {t}")
        step = pointee_size(t) if isinstance(t, Ptr) else 1
        op = "add" if "+" in node.op else "sub"
        post = node.op.startswith("p")
        if lv.reg is not None:
            if not post:
                self.em.emit(op, Reg(lv.reg), Reg(lv.reg), Imm(step))
                self.wrap_reg(lv.reg, lv.reg, t)
                return Val(t, lv.reg)
            d = self.alloc()
            self.em.emit("mov", Reg(d), Reg(lv.reg))
            self.em.emit(op, Reg(lv.reg), Reg(lv.reg), Imm(step))
            self.wrap_reg(lv.reg, lv.reg, t)
            return Val(t, d, owned=True)
        d = self.alloc()
        self.em.emit("ld", Reg(d), lv.mem)
        if not post:
            self.em.emit(op, Reg(d), Reg(d), Imm(step))
            self.wrap_reg(d, d, t)
            self.em.emit("st", lv.mem, Reg(d))
        else:
            self.em.emit(op, Reg(AT), Reg(d), Imm(step))
            self.wrap_reg(AT, AT, t)
            self.em.emit("st", lv.mem, Reg(AT))
        self.release(lv)
        return Val(t, d, owned=True)

    def x_BinaryOp(self, node, dest):
        op = node.op
        if op in COMPARISONS or op in ("&&", "||"):
            a_const = self.try_const(node)
            if a_const is not None:
                return a_const
            return self.bool_value(node, dest)
        a, b = self.operands(node.left, node.right)
        return self.arith(op, a, b, dest, node)

    def need(self, node) -> int:
        """Roughly how many temporaries evaluating node takes (Sethi-Ullman numbers)."""
        key = id(node)
        n = self.needs.get(key)
        if n is None:
            n = self.needs[key] = self._need(node)
        return n

    def _need(self, node) -> int:
        if isinstance(node, c_ast.Constant):
            return 0
        if isinstance(node, c_ast.ID):
            var = self.lookup(node.name)
            return 0 if var is None or var.reg is not None else 1
        if isinstance(node, c_ast.FuncCall):
            return 4
        kids = [c for _, c in node.children()]
        if not kids:
            return 1
        needs = sorted((self.need(c) for c in kids), reverse=True)
        if len(needs) == 1:
            return max(1, needs[0])
        return max(1, needs[0] if needs[0] > needs[1] else needs[0] + 1)

    def operands(self, left, right) -> tuple[Val, Val]:
        """Both operands of a binary operator. C leaves their order unspecified, so the one that
        needs more registers goes first; if registers still run out, the first value waits on the
        thread's push/pop stack and comes back in the scratch register."""
        right_first = self.need(right) > self.need(left)
        x_node, y_node = (right, left) if right_first else (left, right)
        x = self.gen(x_node)
        spilled = x.owned and len(self.free) <= 1 and self.need(y_node) > 0
        if spilled:
            self.em.emit("push", Reg(x.reg))
            self.release(x)
        y = self.gen(y_node)
        if spilled:
            self.em.emit("pop", Reg(AT))
            x = Val(x.type, AT)
        return (y, x) if right_first else (x, y)

    def try_const(self, node):
        try:
            v, t = self.unit.const(node)
        except Exception:  # not a constant expression: generate code
            return None
        return None if isinstance(v, Addr) else Val(t, imm=v)

    def arith(self, op: str, a: Val, b: Val, dest, node) -> Val:
        ta, tb = decay(a.type), decay(b.type)
        for t in (ta, tb):
            if isinstance(t, (Struct, Void)):
                raise at(node.coord, f"invalid operand to binary {op} ({t})")
        rt: CType
        if isinstance(ta, Ptr) or isinstance(tb, Ptr):
            if op == "+" and isinstance(tb, Ptr) and not isinstance(ta, Ptr):
                a, b, ta, tb = b, a, tb, ta
            if op in ("+", "-") and isinstance(ta, Ptr) and not isinstance(tb, Ptr):
                size = pointee_size(ta)
                if b.is_const:
                    b = Val(LONG, imm=(b.imm * size) & MASK64)
                elif size != 1:
                    b = self.scale(b, size)
                rt = ta
            elif op == "-" and isinstance(ta, Ptr) and isinstance(tb, Ptr):
                diff = self.arith_emit("-", a, b, None, ULONG)
                size = pointee_size(ta)
                if size == 1:
                    return Val(LONG, diff.reg, diff.imm, diff.owned)
                return self.arith_emit("/", Val(LONG, diff.reg, diff.imm, diff.owned), Val(LONG, imm=size), dest, LONG)
            else:
                raise at(node.coord, f"invalid operands to binary {op} ({a.type} and {b.type})")
            return self.arith_emit(op, a, b, dest, rt)
        if op in ("<<", ">>"):  # the left operand's promoted type (promotion never changes a word)
            rt = promote(ta)
        else:  # both operands converted to the common type (a negative int to unsigned int)
            rt = arith(ta, tb)
            a, b = self.wrap_to(a, rt), self.wrap_to(b, rt)
        r = self.arith_emit(op, a, b, dest, rt)
        if is_narrow(rt) and op in ("+", "-", "*", "<<") and r.reg is not None:
            self.wrap_reg(r.reg, r.reg, rt)  # int arithmetic wraps at 32 bits
        return r

    def wrap_reg(self, d: int, src: int, t) -> None:
        """d = src as a value of type t holds it (truncated to t's width and extended); nothing
        for types as wide as the word."""
        if not is_narrow(t):
            if d != src:
                self.em.emit("mov", Reg(d), Reg(src))
            return
        if t.signed:
            self.em.emit("shl", Reg(d), Reg(src), Imm(64 - t.bits))
            self.em.emit("sar", Reg(d), Reg(d), Imm(64 - t.bits))
        else:
            self.em.emit("and", Reg(d), Reg(src), Imm((1 << t.bits) - 1))

    def wrap_to(self, v: Val, t) -> Val:
        """v converted to integer type t (code only where the word changes: a narrower type)."""
        if not needs_wrap(decay(v.type), t):
            return v
        if v.is_const:
            return Val(t, imm=wrap(v.imm, t))
        v = self.in_reg(v)
        d, owned = self.target(None, v)
        self.wrap_reg(d, v.reg, t)
        self.release(v)
        return Val(t, d, owned=owned)

    def arith_emit(self, op: str, a: Val, b: Val, dest, rt: CType) -> Val:
        if a.is_const and b.is_const:
            try:
                v, _ = fold(op, a.imm, b.imm, rt if op not in ("<<", ">>") else rt, rt)
            except ZeroDivisionError:
                raise at(self.node_coord, "division by zero") from None
            return Val(rt, imm=v)
        if a.reg is None and op in _COMMUTATIVE:
            a, b = b, a
        a = self.in_reg(a)
        if op in _ARITH_OPS:
            name = _ARITH_OPS[op]
        elif op == ">>":
            name = "shr" if is_unsigned(rt) else "sar"
        elif op in ("/", "%"):
            name = ("div" if op == "/" else "mod") if is_unsigned(rt) else ("sdiv" if op == "/" else "smod")
        else:
            raise at(self.node_coord, f"unsupported operator {op}")
        d, owned = self.target(dest, a, b)
        self.em.emit(name, Reg(d), Reg(a.reg), b.operand)
        self.release(a)
        self.release(b)
        return Val(rt, d, owned=owned)

    def x_Assignment(self, node, dest):
        if not self.is_register_var(node.lvalue) and (node.op != "=" or self.need(node.rvalue) > 0) \
                and not isinstance(self.type_of(node.lvalue), (Struct, Array)):
            return self.assign_to_memory(node)
        lv = self.lvalue(node.lvalue)
        t = lv.type
        if isinstance(t, Array):
            raise at(node.coord, "arrays cannot be assigned (copy the elements)")
        if node.op == "=":
            if isinstance(t, Struct):
                src = self.lvalue(node.rvalue)
                if src.type is not t:
                    raise at(node.coord, f"assigning {src.type} to {t}")
                self.copy_struct(lv, src)
                self.release(src)
                self.release(lv)
                return Val(VOID, imm=0)
            v = self.gen(node.rvalue, lv.reg)
            v = self.convert(v, t, node.rvalue)
            self.store(lv, v)
            self.release(lv)
            if lv.reg is not None:
                self.release(v)
                return Val(t, lv.reg)
            return v
        op = _COMPOUND[node.op]
        if lv.reg is not None:
            b = self.gen(node.rvalue)
            r = self.arith(op, Val(t, lv.reg), b, lv.reg, node)
            r = self.convert(r, t, node)
            if r.reg != lv.reg:
                self.store(lv, r)
                self.release(r)
            return Val(t, lv.reg)
        cur = self.load(LVal(t, base=lv.base, sym=lv.sym, off=lv.off))
        b = self.gen(node.rvalue)
        r = self.arith(op, cur, b, None, node)
        r = self.in_reg(self.convert(r, t, node))
        self.em.emit("st", lv.mem, Reg(r.reg))
        self.release(lv)
        return r

    def is_register_var(self, node) -> bool:
        if isinstance(node, c_ast.ID):
            var = self.lookup(node.name)
            return var is not None and var.reg is not None
        return False

    def assign_to_memory(self, node) -> Val:
        """`E1 = E2` and `E1 op= E2` with E1 in memory: C leaves the order of evaluating E1 and
        E2 open, so E2 goes first and E1's address does not hold a register meanwhile."""
        b = self.gen(node.rvalue)
        if isinstance(b.type, Struct) or isinstance(b.type, Void) and node.op != "=":
            self.release(b)
            lv = self.lvalue(node.lvalue)
            raise at(node.coord, f"invalid operands to {node.op} ({lv.type} and {b.type})")
        spilled = b.owned and len(self.free) <= 1
        if spilled:
            self.em.emit("push", Reg(b.reg))
            self.release(b)
        lv = self.lvalue(node.lvalue)
        t = lv.type
        if isinstance(t, (Array, Struct)):
            raise at(node.coord, f"cannot assign to {t} this way" if isinstance(t, Struct)
                     else "arrays cannot be assigned (copy the elements)")
        if spilled:
            self.em.emit("pop", Reg(AT))
            b = Val(b.type, AT)
        if node.op == "=":
            v = self.convert(b, t, node.rvalue)
            if v.reg == AT:
                v = self.to_reg(v, None) if self.free else v
            self.store(lv, v)
            self.release(lv)
            return v
        op = _COMPOUND[node.op]
        if b.reg == AT:  # the load below needs a register; AT stays b's
            cur_reg = self.alloc() if self.free else None
            if cur_reg is None:
                raise at(node.coord, "expression too complex: no free register (split it into statements)")
        else:
            cur_reg = None
        cur = self.load(LVal(t, base=lv.base, sym=lv.sym, off=lv.off), cur_reg)
        if cur_reg is not None:
            cur = Val(t, cur_reg, owned=True)
        r = self.arith(op, cur, b, None, node)
        r = self.in_reg(self.convert(r, t, node))
        self.em.emit("st", lv.mem, Reg(r.reg))
        self.release(lv)
        return r

    def convert(self, v: Val, t: CType, node) -> Val:
        """v converted for storing into a t: _Bool gets 0 or 1; structs are refused."""
        if isinstance(t, Struct) or isinstance(v.type, Struct):
            if v.type is not t:
                raise at(node.coord, f"incompatible types: {v.type} where {t} is expected")
        if isinstance(v.type, Void) and not isinstance(t, Void):
            raise at(node.coord, "void value not ignored as it ought to be")
        if isinstance(t, Int) and t.is_bool and not (isinstance(v.type, Int) and v.type.is_bool):
            if v.is_const:
                return Val(BOOL, imm=int(v.imm != 0))
            if v.reg is None:  # an address: never null
                return Val(BOOL, imm=1)
            d = self.alloc()
            end = self.em.new_label()
            self.em.emit("mov", Reg(d), Imm(1))
            self.em.emit("jnz", Reg(v.reg), Jump(end))
            self.em.emit("mov", Reg(d), Imm(0))
            self.em.bind(end)
            self.release(v)
            return Val(BOOL, d, owned=True)
        if isinstance(t, Int) and not isinstance(v.type, (Struct, Void)):
            return self.wrap_to(v, t)
        return v

    def x_TernaryOp(self, node, dest):
        c = self.try_const(node.cond)
        if c is not None:
            return self.gen(node.iftrue if c.imm else node.iffalse, dest)
        other, end = self.em.new_label(), self.em.new_label()
        self.branch(node.cond, other, False)
        d, owned = (dest, False) if dest is not None else (self.alloc(), True)
        a = self.gen(node.iftrue, d)
        void = isinstance(a.type, Void)
        if not void:
            self.to_reg(a, d)
        self.em.emit("jmp", Jump(end))
        self.em.bind(other)
        b = self.gen(node.iffalse, d)
        if not void and not isinstance(b.type, Void):
            self.to_reg(b, d)
        self.em.bind(end)
        if void or isinstance(b.type, Void):
            if owned:
                self.free.append(d)
            return Val(VOID, imm=0)
        ta, tb = decay(a.type), decay(b.type)
        t = ta if isinstance(ta, Ptr) else tb if isinstance(tb, Ptr) else arith(ta, tb)
        return Val(t, d, owned=owned)

    def x_Cast(self, node, dest):
        t = self.unit.ctype(node.to_type)
        v = self.gen(node.expr, dest)
        if isinstance(t, Void):
            self.release(v)
            return Val(VOID, imm=0)
        if isinstance(t, Struct) or isinstance(decay(v.type), Struct):
            raise at(node.coord, f"cannot cast {v.type} to {t}")
        if isinstance(t, Int) and t.is_bool:
            return self.convert(v, t, node)
        if isinstance(t, Int):
            v = self.wrap_to(v, t)
        return Val(t, v.reg, v.imm, v.owned)

    def x_ExprList(self, node, dest):
        for e in node.exprs[:-1]:
            self.gen_discard(e)
        return self.gen(node.exprs[-1], dest)

    def x_InitList(self, node, dest):
        raise at(node.coord, "a braced initializer list is only allowed in a declaration")

    def x_CompoundLiteral(self, node, dest):
        raise at(node.coord, "compound literals are not supported")

    # -- conditions ----------------------------------------------------------------------------

    def bool_value(self, node, dest) -> Val:
        """0 or 1; the register is taken after the condition's branches are generated, so the
        condition has every free register for itself."""
        true, end = self.em.new_label(), self.em.new_label()
        self.branch(node, true, True)
        d, owned = (dest, False) if dest is not None else (self.alloc(), True)
        self.em.emit("mov", Reg(d), Imm(0))
        self.em.emit("jmp", Jump(end))
        self.em.bind(true)
        self.em.emit("mov", Reg(d), Imm(1))
        self.em.bind(end)
        return Val(INT, d, owned=owned)

    def branch(self, node, label: int, when: bool) -> None:
        """Jump to label if the truth of node equals `when`; else fall through."""
        prev = self.em.site
        self.em.site = self.site_of(node.coord)
        try:
            self._branch(node, label, when)
        finally:
            self.em.site = prev

    def _branch(self, node, label: int, when: bool) -> None:
        c = self.try_const(node)
        if c is not None:
            if bool(c.imm) == when:
                self.em.emit("jmp", Jump(label))
            return
        if isinstance(node, c_ast.UnaryOp) and node.op == "!":
            return self.branch(node.expr, label, not when)
        if isinstance(node, c_ast.BinaryOp) and node.op in ("&&", "||"):
            if (node.op == "&&") == when:  # both must hold (&& true, || false)
                skip = self.em.new_label()
                self.branch(node.left, skip, not when)
                self.branch(node.right, label, when)
                self.em.bind(skip)
            else:
                self.branch(node.left, label, when)
                self.branch(node.right, label, when)
            return
        if isinstance(node, c_ast.BinaryOp) and node.op in COMPARISONS:
            a, b = self.operands(node.left, node.right)
            op = node.op if when else _NEGATED[node.op]
            ta, tb = decay(a.type), decay(b.type)
            if isinstance(ta, Struct) or isinstance(tb, Struct):
                raise at(node.coord, f"invalid operands to {node.op} ({a.type} and {b.type})")
            if isinstance(ta, Ptr) or isinstance(tb, Ptr):
                uns = True
            else:  # compared in the common type (int -1 == unsigned int 0xffffffff)
                ct = arith(ta, tb)
                a, b = self.wrap_to(a, ct), self.wrap_to(b, ct)
                uns = is_unsigned(ct)
            if a.reg is None and b.reg is not None:
                a, b, op = b, a, _SWAPPED[op]
            a = self.in_reg(a)
            self.em.emit((_BRANCH_U if uns else _BRANCH_S)[op], Reg(a.reg), b.operand, Jump(label))
            self.release(a)
            self.release(b)
            return
        if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID) and node.name.name == "test_bit" \
                and self.lookup("test_bit") is None and self.api("test_bit") is not None:
            v = self.test_bit_flag(node)  # bit `nr` in place (no shift): enough for a branch
        else:
            v = self.gen(node)
        if isinstance(v.type, (Void, Struct)):
            raise at(node.coord, f"used {v.type} where a scalar is required")
        if v.reg is None:  # an address constant is never null
            if when:
                self.em.emit("jmp", Jump(label))
            return
        self.em.emit("jnz" if when else "jz", Reg(v.reg), Jump(label))
        self.release(v)

    def x_Constant_string(self, node):  # pragma: no cover - strings are handled by the API
        raise at(node.coord, "string literals are only accepted as messages of BUG/WARN/printk")


__all__ = ["ExprMixin"]
